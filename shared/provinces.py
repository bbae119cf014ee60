"""Provinces before and after the 2025 reorganisation, as reference data.

Until 30 Jun 2025: 63 provinces (GSO codes). From 1 Jul 2025: 34 provinces
(Resolution 202/2025/QH15; codes per Decision 19/2025/QĐ-TTg) and no
district level. ``OLD_TO_NEW`` lets a report show history in today's units.
"""
import datetime as dt

REORGANISED_ON = dt.date(2025, 7, 1)
LEGAL_BASIS = "Resolution 202/2025/QH15; Decision 19/2025/QĐ-TTg"

OLD_PROVINCES = {
    "01": "Hà Nội", "02": "Hà Giang", "04": "Cao Bằng", "06": "Bắc Kạn",
    "08": "Tuyên Quang", "10": "Lào Cai", "11": "Điện Biên", "12": "Lai Châu",
    "14": "Sơn La", "15": "Yên Bái", "17": "Hòa Bình", "19": "Thái Nguyên",
    "20": "Lạng Sơn", "22": "Quảng Ninh", "24": "Bắc Giang", "25": "Phú Thọ",
    "26": "Vĩnh Phúc", "27": "Bắc Ninh", "30": "Hải Dương", "31": "Hải Phòng",
    "33": "Hưng Yên", "34": "Thái Bình", "35": "Hà Nam", "36": "Nam Định",
    "37": "Ninh Bình", "38": "Thanh Hóa", "40": "Nghệ An", "42": "Hà Tĩnh",
    "44": "Quảng Bình", "45": "Quảng Trị", "46": "Thừa Thiên Huế", "48": "Đà Nẵng",
    "49": "Quảng Nam", "51": "Quảng Ngãi", "52": "Bình Định", "54": "Phú Yên",
    "56": "Khánh Hòa", "58": "Ninh Thuận", "60": "Bình Thuận", "62": "Kon Tum",
    "64": "Gia Lai", "66": "Đắk Lắk", "67": "Đắk Nông", "68": "Lâm Đồng",
    "70": "Bình Phước", "72": "Tây Ninh", "74": "Bình Dương", "75": "Đồng Nai",
    "77": "Bà Rịa - Vũng Tàu", "79": "TP Hồ Chí Minh", "80": "Long An", "82": "Tiền Giang",
    "83": "Bến Tre", "84": "Trà Vinh", "86": "Vĩnh Long", "87": "Đồng Tháp",
    "89": "An Giang", "91": "Kiên Giang", "92": "Cần Thơ", "93": "Hậu Giang",
    "94": "Sóc Trăng", "95": "Bạc Liêu", "96": "Cà Mau",
}

NEW_PROVINCES = {
    "01": "Hà Nội", "04": "Cao Bằng", "08": "Tuyên Quang", "11": "Điện Biên",
    "12": "Lai Châu", "14": "Sơn La", "15": "Lào Cai", "19": "Thái Nguyên",
    "20": "Lạng Sơn", "22": "Quảng Ninh", "24": "Bắc Ninh", "25": "Phú Thọ",
    "31": "Hải Phòng", "33": "Hưng Yên", "37": "Ninh Bình", "38": "Thanh Hóa",
    "40": "Nghệ An", "42": "Hà Tĩnh", "44": "Quảng Trị", "46": "Huế",
    "48": "Đà Nẵng", "51": "Quảng Ngãi", "52": "Gia Lai", "56": "Khánh Hòa",
    "66": "Đắk Lắk", "68": "Lâm Đồng", "75": "Đồng Nai", "79": "TP Hồ Chí Minh",
    "80": "Tây Ninh", "82": "Đồng Tháp", "86": "Vĩnh Long", "91": "An Giang",
    "92": "Cần Thơ", "96": "Cà Mau",
}

# new province: the old provinces merged into it
_MERGED = {
    "01": ["01"], "04": ["04"], "08": ["08", "02"], "11": ["11"], "12": ["12"],
    "14": ["14"], "15": ["10", "15"], "19": ["19", "06"], "20": ["20"], "22": ["22"],
    "24": ["24", "27"], "25": ["25", "26", "17"], "31": ["31", "30"], "33": ["33", "34"],
    "37": ["37", "35", "36"], "38": ["38"], "40": ["40"], "42": ["42"], "44": ["44", "45"],
    "46": ["46"], "48": ["48", "49"], "51": ["51", "62"], "52": ["52", "64"],
    "56": ["56", "58"], "66": ["66", "54"], "68": ["68", "67", "60"], "75": ["75", "70"],
    "79": ["79", "74", "77"], "80": ["72", "80"], "82": ["82", "87"], "86": ["86", "83", "84"],
    "91": ["89", "91"], "92": ["92", "93", "94"], "96": ["96", "95"],
}
OLD_TO_NEW = {old: new for new, olds in _MERGED.items() for old in olds}


def provinces_on(day):
    """The province table in force on ``day``."""
    return NEW_PROVINCES if day >= REORGANISED_ON else OLD_PROVINCES


def current_unit(province_code, day):
    """The province of today's map that a code used on ``day`` belongs to."""
    return OLD_TO_NEW[province_code] if day < REORGANISED_ON else province_code
