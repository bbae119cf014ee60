-- Participants per province, commune (where the register knows it), scheme
-- and HI group (the group a person entered health cover with; '' for the
-- other schemes), current figures.
CREATE TABLE group_counts (
    province_code char(2) NOT NULL,
    commune_code  text NOT NULL DEFAULT '',
    scheme        text NOT NULL,
    group_code    text NOT NULL DEFAULT '',
    participants  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (province_code, commune_code, scheme, group_code)
);
