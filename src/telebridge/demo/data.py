"""Reference lists of the demo: the real hub hospitals and Vietnamese personal names."""

from __future__ import annotations

from dataclasses import dataclass

HANOI, HUE, DA_NANG, HCMC, CAN_THO = 1, 46, 48, 79, 92

_GENERAL = ("internal_medicine", "surgery", "cardiology", "emergency", "intensive_care", "radiology")
_PAEDS = ("paediatrics", "neonatology", "paediatric_cardiology", "intensive_care", "emergency")
_MATERNITY = ("obstetrics", "neonatology")


@dataclass(frozen=True)
class Hub:
    """A real hub hospital. ``province`` is the post-2025 code, ``old_province`` the pre-2025
    code its insurance facility code starts with."""

    name: str
    name_en: str
    province: int
    old_province: int
    tier: str  # central | provincial
    specialties: tuple[str, ...]
    address: str
    beds: int


HUBS: tuple[Hub, ...] = (
    Hub("Bệnh viện Bạch Mai", "Bach Mai Hospital", HANOI, 1, "central",
        (*_GENERAL, "neurology", "infectious_diseases", "respiratory", "endocrinology", "nephrology",
         "gastroenterology", "haematology", "psychiatry", "geriatrics", "oncology", "endocrine_diabetes",
         "paediatrics", "traditional_medicine", "rehabilitation", "pathology"),
        "78 Giải Phóng, phường Kim Liên", 3200),
    Hub("Bệnh viện Hữu nghị Việt Đức", "Viet Duc University Hospital", HANOI, 1, "central",
        ("surgery", "neurosurgery", "trauma_orthopaedics", "emergency", "intensive_care", "radiology",
         "nephrology", "oncology", "pathology"),
        "40 Tràng Thi, phường Hoàn Kiếm", 1500),
    Hub("Bệnh viện Nhi Trung ương", "Vietnam National Children's Hospital", HANOI, 1, "central",
        (*_PAEDS, "infectious_diseases", "respiratory", "surgery", "neurology", "haematology", "oncology",
         "endocrinology", "radiology", "rehabilitation"),
        "18/879 La Thành, phường Láng", 2000),
    Hub("Bệnh viện K", "Vietnam National Cancer Hospital", HANOI, 1, "central",
        ("oncology", "radiology", "pathology", "haematology", "surgery"), "43 Quán Sứ, phường Cửa Nam", 2500),
    Hub("Bệnh viện Đại học Y Hà Nội", "Hanoi Medical University Hospital", HANOI, 1, "central",
        ("internal_medicine", "surgery", "cardiology", "endocrinology", "gastroenterology", "ophthalmology",
         "ent", "dermatology", "rehabilitation", "geriatrics"),
        "1 Tôn Thất Tùng, phường Kim Liên", 900),
    Hub("Bệnh viện Nội tiết Trung ương", "National Hospital of Endocrinology", HANOI, 1, "central",
        ("endocrinology", "endocrine_diabetes", "paediatrics", "surgery"), "215 Ngọc Hồi, xã Thanh Trì", 800),
    Hub("Bệnh viện Phổi Trung ương", "National Lung Hospital", HANOI, 1, "central",
        ("respiratory", "infectious_diseases", "radiology", "oncology", "intensive_care"),
        "463 Hoàng Hoa Thám, phường Ngọc Hà", 600),
    Hub("Bệnh viện Mắt Trung ương", "Vietnam National Eye Hospital", HANOI, 1, "central",
        ("ophthalmology",), "85 Bà Triệu, phường Hai Bà Trưng", 500),
    Hub("Bệnh viện Tai Mũi Họng Trung ương", "Vietnam National ENT Hospital", HANOI, 1, "central",
        ("ent", "surgery", "oncology"), "78 Giải Phóng, phường Kim Liên", 400),
    Hub("Bệnh viện Da liễu Trung ương", "National Hospital of Dermatology and Venereology", HANOI, 1,
        "central", ("dermatology", "pathology"), "15A Phương Mai, phường Kim Liên", 300),
    Hub("Bệnh viện Bệnh Nhiệt đới Trung ương", "National Hospital for Tropical Diseases", HANOI, 1,
        "central", ("tropical_medicine", "infectious_diseases", "intensive_care", "gastroenterology"),
        "78 Giải Phóng, phường Kim Liên", 900),
    Hub("Bệnh viện Lão khoa Trung ương", "National Geriatric Hospital", HANOI, 1, "central",
        ("geriatrics", "internal_medicine", "rehabilitation", "neurology", "cardiology"),
        "1A Phương Mai, phường Kim Liên", 550),
    Hub("Bệnh viện Phụ sản Trung ương", "National Hospital of Obstetrics and Gynaecology", HANOI, 1,
        "central", (*_MATERNITY, "oncology", "surgery"), "43 Tràng Thi, phường Hoàn Kiếm", 1000),
    Hub("Viện Huyết học - Truyền máu Trung ương", "National Institute of Hematology and Blood Transfusion",
        HANOI, 1, "central", ("haematology", "pathology", "oncology"), "Phạm Văn Bạch, phường Yên Hòa", 700),
    Hub("Bệnh viện Tâm thần Trung ương 1", "National Psychiatric Hospital No. 1", HANOI, 1, "central",
        ("psychiatry", "neurology"), "Hòa Bình, xã Thường Tín", 1200),
    Hub("Bệnh viện Y học cổ truyền Trung ương", "National Hospital of Traditional Medicine", HANOI, 1,
        "central", ("traditional_medicine", "rehabilitation", "internal_medicine"),
        "29 Nguyễn Bỉnh Khiêm, phường Hai Bà Trưng", 600),
    Hub("Bệnh viện Trung ương Quân đội 108", "108 Military Central Hospital", HANOI, 1, "central",
        (*_GENERAL, "neurosurgery", "trauma_orthopaedics", "oncology", "infectious_diseases",
         "gastroenterology", "nephrology"),
        "1 Trần Hưng Đạo, phường Hai Bà Trưng", 2200),
    Hub("Bệnh viện Tim Hà Nội", "Hanoi Heart Hospital", HANOI, 1, "provincial",
        ("cardiology", "paediatric_cardiology", "intensive_care", "radiology", "surgery"),
        "92 Trần Hưng Đạo, phường Cửa Nam", 500),
    Hub("Bệnh viện Đa khoa Trung ương Thái Nguyên", "Thai Nguyen National Hospital", 19, 19, "central",
        (*_GENERAL, "paediatrics", "obstetrics", "oncology", "neurology"),
        "479 Lương Ngọc Quyến, phường Phan Đình Phùng", 1500),
    Hub("Bệnh viện Hữu nghị Việt Tiệp", "Viet Tiep Friendship Hospital", 31, 31, "provincial",
        (*_GENERAL, "trauma_orthopaedics", "neurology", "oncology"), "1 Nhà Thương, phường Lê Chân", 1800),
    Hub("Bệnh viện Bãi Cháy", "Bai Chay Hospital", 22, 22, "provincial",
        (*_GENERAL, "paediatrics", "obstetrics"), "Phường Bãi Cháy", 800),
    Hub("Bệnh viện Điều dưỡng - Phục hồi chức năng Trung ương", "National Rehabilitation Hospital", 38, 38,
        "central", ("rehabilitation", "traditional_medicine", "neurology"), "Phường Sầm Sơn", 450),
    Hub("Bệnh viện Hữu nghị Đa khoa Nghệ An", "Nghe An Friendship General Hospital", 40, 40, "provincial",
        (*_GENERAL, "neurology", "oncology", "nephrology", "trauma_orthopaedics"), "Phường Vinh Phú", 1500),
    Hub("Bệnh viện Sản Nhi Nghệ An", "Nghe An Obstetrics and Paediatrics Hospital", 40, 40, "provincial",
        (*_MATERNITY, "paediatrics", "paediatric_cardiology", "intensive_care"), "Phường Vinh Phú", 1000),
    Hub("Bệnh viện Trung ương Huế", "Hue Central Hospital", HUE, 46, "central",
        (*_GENERAL, "paediatrics", "paediatric_cardiology", "neonatology", "obstetrics", "neurosurgery",
         "oncology", "ophthalmology", "ent", "trauma_orthopaedics", "neurology"),
        "16 Lê Lợi, phường Thuận Hóa", 3000),
    Hub("Bệnh viện Đà Nẵng", "Da Nang Hospital", DA_NANG, 48, "provincial",
        (*_GENERAL, "neurology", "trauma_orthopaedics", "infectious_diseases"),
        "124 Hải Phòng, phường Hải Châu", 1500),
    Hub("Bệnh viện Đa khoa Trung ương Quảng Nam", "Quang Nam Central General Hospital", DA_NANG, 49,
        "central", (*_GENERAL, "paediatrics", "obstetrics", "neurology"), "Xã Tam Anh", 1000),
    Hub("Bệnh viện Đa khoa vùng Tây Nguyên", "Central Highlands Regional General Hospital", 66, 66,
        "central", (*_GENERAL, "paediatrics", "obstetrics", "trauma_orthopaedics"),
        "184 Trần Quý Cáp, phường Buôn Ma Thuột", 1200),
    Hub("Bệnh viện Đa khoa tỉnh Khánh Hòa", "Khanh Hoa General Hospital", 56, 56, "provincial",
        (*_GENERAL, "paediatrics", "obstetrics", "oncology"), "19 Yersin, phường Nha Trang", 1300),
    Hub("Bệnh viện Chợ Rẫy", "Cho Ray Hospital", HCMC, 79, "central",
        (*_GENERAL, "neurosurgery", "trauma_orthopaedics", "nephrology", "gastroenterology", "oncology",
         "neurology", "infectious_diseases", "haematology", "pathology", "endocrinology"),
        "201B Nguyễn Chí Thanh, phường Chợ Lớn", 3400),
    Hub("Bệnh viện Thống Nhất", "Thong Nhat Hospital", HCMC, 79, "central",
        ("geriatrics", "cardiology", "internal_medicine", "neurology", "nephrology", "endocrinology"),
        "1 Lý Thường Kiệt, phường Tân Sơn Nhất", 1200),
    Hub("Bệnh viện Đại học Y Dược Thành phố Hồ Chí Minh", "University Medical Center Ho Chi Minh City",
        HCMC, 79, "central",
        (*_GENERAL, "gastroenterology", "oncology", "endocrinology", "neurology", "obstetrics"),
        "215 Hồng Bàng, phường Chợ Lớn", 1000),
    Hub("Bệnh viện Nhân dân 115", "People's Hospital 115", HCMC, 79, "provincial",
        ("neurology", "neurosurgery", "emergency", "intensive_care", "cardiology", "nephrology"),
        "527 Sư Vạn Hạnh, phường Hòa Hưng", 1500),
    Hub("Bệnh viện Nhi Đồng 1", "Children's Hospital 1", HCMC, 79, "provincial",
        (*_PAEDS, "infectious_diseases", "respiratory", "surgery"), "341 Sư Vạn Hạnh, phường Hòa Hưng", 1400),
    Hub("Bệnh viện Nhi Đồng 2", "Children's Hospital 2", HCMC, 79, "provincial",
        (*_PAEDS, "surgery", "haematology"), "14 Lý Tự Trọng, phường Sài Gòn", 1400),
    Hub("Bệnh viện Từ Dũ", "Tu Du Hospital", HCMC, 79, "provincial", _MATERNITY,
        "284 Cống Quỳnh, phường Bến Thành", 1600),
    Hub("Bệnh viện Hùng Vương", "Hung Vuong Hospital", HCMC, 79, "provincial", _MATERNITY,
        "128 Hồng Bàng, phường Chợ Lớn", 800),
    Hub("Bệnh viện Ung bướu Thành phố Hồ Chí Minh", "Ho Chi Minh City Oncology Hospital", HCMC, 79,
        "provincial", ("oncology", "radiology", "pathology", "haematology"), "47 Nguyễn Huy Lượng, phường Bình Thạnh", 1800),
    Hub("Bệnh viện Chấn thương Chỉnh hình Thành phố Hồ Chí Minh", "Hospital for Traumatology and Orthopaedics",
        HCMC, 79, "provincial", ("trauma_orthopaedics", "rehabilitation", "surgery"),
        "929 Trần Hưng Đạo, phường Chợ Quán", 600),
    Hub("Bệnh viện Quân y 175", "Military Hospital 175", HCMC, 79, "central",
        (*_GENERAL, "trauma_orthopaedics", "neurosurgery", "oncology"), "786 Nguyễn Kiệm, phường Hạnh Thông", 1500),
    Hub("Bệnh viện Đa khoa Trung ương Cần Thơ", "Can Tho Central General Hospital", CAN_THO, 92, "central",
        (*_GENERAL, "paediatrics", "obstetrics", "oncology", "neurology", "nephrology"),
        "315 Nguyễn Văn Linh, phường Tân An", 1000),
)

# Where a region's bridge points look first: its national anchors (general, paediatric).
ANCHORS = {
    "north": ("Bệnh viện Bạch Mai", "Bệnh viện Nhi Trung ương"),
    "central": ("Bệnh viện Trung ương Huế", "Bệnh viện Trung ương Huế"),
    "south": ("Bệnh viện Chợ Rẫy", "Bệnh viện Nhi Đồng 1"),
}
# The demo accounts work at these hubs.
DEMO_HUB = "Bệnh viện Nhi Trung ương"
DEMO_GENERAL_HUB = "Bệnh viện Bạch Mai"

# ------------------------------------------------------------------ personal names
# (family name in the north, in the centre and south), weight in percent of the population
FAMILY_NAMES: tuple[tuple[str, str, float], ...] = (
    ("Nguyễn", "Nguyễn", 38.0), ("Trần", "Trần", 11.0), ("Lê", "Lê", 9.5), ("Phạm", "Phạm", 7.0),
    ("Hoàng", "Huỳnh", 5.1), ("Phan", "Phan", 4.5), ("Vũ", "Võ", 3.9), ("Đặng", "Đặng", 2.1),
    ("Bùi", "Bùi", 2.0), ("Đỗ", "Đỗ", 1.4), ("Hồ", "Hồ", 1.3), ("Ngô", "Ngô", 1.3), ("Dương", "Dương", 1.0),
    ("Lý", "Lý", 0.5), ("Đinh", "Đinh", 1.0), ("Trương", "Trương", 1.0), ("Mai", "Mai", 0.5),
    ("Lương", "Lương", 0.5), ("Đoàn", "Đoàn", 0.5), ("Hà", "Hà", 0.5), ("Tạ", "Tạ", 0.3), ("Cao", "Cao", 0.3),
    ("Lâm", "Lâm", 0.3), ("Quách", "Quách", 0.2), ("Triệu", "Triệu", 0.2), ("Tô", "Tô", 0.2),
    ("Chu", "Chu", 0.2), ("Kiều", "Kiều", 0.2),
)
MIDDLE_MALE = ("Văn", "Văn", "Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Ngọc", "Đình",
               "Trọng", "Anh", "Tuấn", "Gia", "Hoàng", "Quốc")
MIDDLE_FEMALE = ("Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Bích", "Kim", "Thùy", "Hồng",
                 "Phương", "Mai", "Khánh", "Diệu", "Hoài")
GIVEN_MALE = ("An", "Anh", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Đức", "Giang", "Hải", "Hiếu",
              "Hoàng", "Hùng", "Huy", "Khang", "Khánh", "Khoa", "Kiên", "Lâm", "Long", "Minh", "Nam", "Nghĩa",
              "Phong", "Phúc", "Quân", "Quang", "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trung",
              "Tuấn", "Tùng", "Việt", "Vinh", "Vũ", "Hưng", "Lộc", "Tiến", "Hậu")
GIVEN_FEMALE = ("An", "Anh", "Châu", "Chi", "Diệp", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa",
                "Hồng", "Huệ", "Hương", "Lan", "Liên", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Ngọc",
                "Nhung", "Oanh", "Phương", "Quỳnh", "Tâm", "Thảo", "Thanh", "Thu", "Thủy", "Trang", "Trâm",
                "Uyên", "Vân", "Vy", "Xuân", "Yến")

HOURS = ("T2-T6 07:00-16:30", "T2-T7 07:00-17:00", "T2-CN 07:00-11:30", "Trực 24/7 theo lịch",
         "T2-T6 07:30-17:00; trực đêm theo lịch")
STREET_NAMES = ("Trần Phú", "Lê Lợi", "Nguyễn Trãi", "Hùng Vương", "Quang Trung", "Lê Duẩn", "Hai Bà Trưng",
                "Nguyễn Huệ", "Lý Thường Kiệt", "Điện Biên Phủ", "Phan Đình Phùng", "Trần Hưng Đạo")
