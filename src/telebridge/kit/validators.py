"""National identifiers, validated (never used as primary keys)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from telebridge.kit.errors import BadInput
from telebridge.kit.i18n import N_

# Pre-2025 province codes (Decision 124/2004/QD-TTg) used in citizen-ID and insurance codes;
# the 34 provinces since July 2025 keep a subset of them.
PROVINCE_CODES_2004 = frozenset({
    1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36,
    37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74,
    75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
})

_CITIZEN = re.compile(r"^\d{12}$")
_INSURANCE = re.compile(r"^\d{5}$")
_GLN = re.compile(r"^\d{13}$")
_LICENCE = re.compile(r"^\d{6}/[A-Z]{2,4}-(CCHN|GPHN)$")
# U00-U85 are WHO codes for special purposes (U07.1 COVID-19), in the Vietnamese list too.
_ICD10 = re.compile(r"^[A-Z]\d{2}(\.\d{1,2})?$")


def citizen_id(value: str, *, birth_date: date | None = None, sex: str | None = None) -> str:
    """A 12-digit personal identification number (CCCD / định danh cá nhân).

    Digits 1-3: province of birth registration; digit 4: century and sex
    (0/1 = 1900s male/female, 2/3 = 2000s, 4/5 = 2100s); digits 5-6: year of birth.
    """
    value = (value or "").strip().replace(" ", "")
    if not _CITIZEN.match(value):
        raise BadInput(N_("A citizen ID has exactly 12 digits."), field="citizen_id")
    if int(value[:3]) not in PROVINCE_CODES_2004:
        raise BadInput(N_("The first three digits of a citizen ID must be a province code."), field="citizen_id")
    gender_century = int(value[3])
    if gender_century > 5:
        raise BadInput(N_("The fourth digit of a citizen ID encodes century and sex and cannot be {digit}."), field="citizen_id", digit=gender_century)
    century = 1900 + 100 * (gender_century // 2)
    if birth_date is not None:
        if century + int(value[4:6]) != birth_date.year:
            raise BadInput(N_("The citizen ID does not match the year of birth."), field="citizen_id")
    if sex in ("male", "female"):
        if (gender_century % 2 == 0) != (sex == "male"):
            raise BadInput(N_("The citizen ID does not match the sex."), field="citizen_id")
    return value


def insurance_facility_code(value: str) -> str:
    """The 5-character health-insurance facility code (mã cơ sở KCB BHYT): province + 3 digits."""
    value = (value or "").strip()
    if not _INSURANCE.match(value) or int(value[:2]) not in PROVINCE_CODES_2004:
        raise BadInput(N_("An insurance facility code has 5 digits, starting with a province code."), field="insurance_code")
    return value


def gln_check_digit(first12: str) -> int:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def gln(value: str) -> str:
    """A 13-digit GS1 Global Location Number with a valid check digit."""
    value = (value or "").strip()
    if not _GLN.match(value) or gln_check_digit(value[:12]) != int(value[12]):
        raise BadInput(N_("A facility GLN has 13 digits with a valid check digit."), field="gln_code")
    return value


def licence_number(value: str) -> str:
    """A practising licence number, e.g. 001234/BYT-CCHN or 004567/HNO-GPHN."""
    value = (value or "").strip().upper()
    if not _LICENCE.match(value):
        raise BadInput(N_("A licence number looks like 001234/BYT-CCHN."), field="licence_number")
    return value


_PHONE = re.compile(r"^0(?:[35789]\d{8}|2\d{9})$")


def phone(value: str | None) -> str | None:
    """A Vietnamese phone number, normalised to its digits: mobile 0912345678, landline 02x xxxx xxxx.
    The international form +84 / 84 is accepted."""
    if not value or not value.strip():
        return None
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if not _PHONE.match(digits):
        raise BadInput(N_("A Vietnamese phone number has 10 digits (mobile, e.g. 0912345678) or 11 digits (landline, 02…)."), field="phone")
    return digits


def icd10(value: str) -> str:
    value = (value or "").strip().upper()
    if not _ICD10.match(value):
        raise BadInput(N_("Not an ICD-10 code."), field="icd10")
    return value


def fold(text: str | None) -> str:
    """Lower-case, diacritics removed, đ→d, spaces collapsed: for diacritic-insensitive search."""
    if not text:
        return ""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


def clean_text(value: str | None, *, field: str, max_len: int, required: bool = False) -> str | None:
    """Trim, NFC-normalise, reject control characters and over-long values."""
    if value is None or not value.strip():
        if required:
            raise BadInput(N_("This field is required."), field=field)
        return None
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > max_len:
        raise BadInput(N_("Too long: at most {max} characters."), field=field, max=max_len)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise BadInput(N_("Contains characters that are not allowed."), field=field)
    return value
