"""Reference data: clinical specialties offered over the network (codes are stable)."""

from __future__ import annotations

SPECIALTIES: tuple[tuple[str, str, str], ...] = (
    ("cardiology", "Tim mạch", "Cardiology"),
    ("paediatrics", "Nhi khoa", "Paediatrics"),
    ("neonatology", "Sơ sinh", "Neonatology"),
    ("paediatric_cardiology", "Tim mạch nhi", "Paediatric cardiology"),
    ("obstetrics", "Sản khoa", "Obstetrics"),
    ("internal_medicine", "Nội khoa", "Internal medicine"),
    ("emergency", "Cấp cứu", "Emergency medicine"),
    ("intensive_care", "Hồi sức tích cực", "Intensive care"),
    ("surgery", "Ngoại khoa", "General surgery"),
    ("trauma_orthopaedics", "Chấn thương chỉnh hình", "Trauma and orthopaedics"),
    ("neurology", "Thần kinh", "Neurology"),
    ("neurosurgery", "Phẫu thuật thần kinh", "Neurosurgery"),
    ("oncology", "Ung bướu", "Oncology"),
    ("radiology", "Chẩn đoán hình ảnh", "Radiology and imaging"),
    ("infectious_diseases", "Truyền nhiễm", "Infectious diseases"),
    ("respiratory", "Hô hấp", "Respiratory medicine"),
    ("endocrinology", "Nội tiết", "Endocrinology"),
    ("nephrology", "Thận - tiết niệu", "Nephrology and urology"),
    ("gastroenterology", "Tiêu hóa", "Gastroenterology"),
    ("dermatology", "Da liễu", "Dermatology"),
    ("ophthalmology", "Mắt", "Ophthalmology"),
    ("ent", "Tai mũi họng", "Ear, nose and throat"),
    ("psychiatry", "Tâm thần", "Psychiatry"),
    ("traditional_medicine", "Y học cổ truyền", "Traditional medicine"),
    ("geriatrics", "Lão khoa", "Geriatrics"),
    ("haematology", "Huyết học", "Haematology"),
    ("pathology", "Giải phẫu bệnh", "Pathology"),
    ("rehabilitation", "Phục hồi chức năng", "Rehabilitation"),
    ("tropical_medicine", "Bệnh nhiệt đới", "Tropical medicine"),
    ("endocrine_diabetes", "Đái tháo đường", "Diabetes"),
)
SPECIALTY_CODES = frozenset(code for code, _vi, _en in SPECIALTIES)

TECHNICAL_LEVELS = ("primary", "basic", "specialised")
LEGACY_TIERS = ("central", "provincial", "district", "commune")
FACILITY_KINDS = ("hospital", "medical_centre", "health_station", "clinic")
PROFESSIONS = ("doctor", "nurse", "midwife", "technician", "pharmacist")
CONSULTATION_MODES = ("direct_to_patient", "patient_at_receiving_facility", "inter_facility_support", "remote_consultation")
