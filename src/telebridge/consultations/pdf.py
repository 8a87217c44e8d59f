"""The consultation minutes as a PDF (biên bản hội chẩn từ xa): a pure function of the minutes.

``render_minutes_pdf(doc, lang="vi")`` lays out the fixed form of Circular 49/2017/TT-BYT as
CLINICAL-RULES.md lists it: national motto, facilities, participants (chair, secretary), patient
identity, session time (Asia/Ho_Chi_Minh) and mode, case summary, discussion, conclusions issue by
issue, ICD-10 diagnoses, recommendation, the note that the hub's opinion is a recommendation,
electronic signatures with the SHA-256 of the signed content, and signed addenda.

Text is set in Be Vietnam Pro (PyPI ``fontpkg-be-vietnam-pro``, OFL-1.1), embedded and
subset by fpdf2, so every Vietnamese diacritic renders and is extractable. Labels are English
msgids marked with ``N_()`` and translated through kit.i18n (catalog: ``consultations``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from telebridge.kit import i18n
from telebridge.kit.i18n import N_

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FONT = "BeVietnamPro"

MODES = {
    "direct_to_patient": N_("Remote care directly to the patient"),
    "patient_at_receiving_facility": N_("Patient at a receiving facility, examined remotely by another facility"),
    "inter_facility_support": N_("Remote professional support between facilities"),
    "remote_consultation": N_("Remote consultation between facilities"),
}
RECOMMENDATIONS = {
    "treat_locally": N_("Treat at the requesting facility"),
    "transfer": N_("Transfer the patient"),
    "further_investigations": N_("Further investigations"),
    "follow_up": N_("Follow up"),
}
ROLES = {"chair": N_("Chair"), "secretary": N_("Secretary"), "participant": N_("Participant"),
         "author": N_("Author")}
SEXES = {"male": N_("Male"), "female": N_("Female"), "unknown": N_("Unknown")}


# --------------------------------------------------------------------------- the document

@dataclass(frozen=True)
class FacilityRef:
    name: str
    code: str | None = None  # 5-digit insurance facility code


@dataclass(frozen=True)
class MinutesParticipant:
    name: str
    title: str | None = None  # e.g. "PGS.TS.BS", "BSCKII"
    licence_number: str | None = None
    site: str | None = None  # facility / connection point
    role: str = "participant"  # chair | secretary | participant


@dataclass(frozen=True)
class PatientIdentity:
    full_name: str
    date_of_birth: date | None = None
    sex: str = "unknown"  # male | female | unknown
    citizen_id: str | None = None  # None: provisional identity
    address: str | None = None


@dataclass(frozen=True)
class CaseSummary:
    history: str | None = None
    examination: str | None = None
    vital_signs: str | None = None
    investigations: str | None = None
    current_treatment: str | None = None


@dataclass(frozen=True)
class ConclusionItem:
    issue: str
    conclusion: str


@dataclass(frozen=True)
class DiagnosisItem:
    code: str  # ICD-10
    title: str


@dataclass(frozen=True)
class SignatureItem:
    name: str
    role: str  # chair | secretary | participant
    signed_at: datetime
    content_hash: str  # SHA-256 hex of the exact content signed


@dataclass(frozen=True)
class AddendumItem:
    text: str
    author: str
    signed_at: datetime
    content_hash: str


@dataclass(frozen=True)
class MinutesDocument:
    document_id: str
    requesting_facility: FacilityRef
    consulting_facility: FacilityRef
    patient: PatientIdentity
    mode: str  # one of MODES
    session_start: datetime | None = None
    session_end: datetime | None = None
    participants: Sequence[MinutesParticipant] = ()
    case_summary: CaseSummary = field(default_factory=CaseSummary)
    question: str | None = None  # what the requesting clinician asked
    discussion: str | None = None
    conclusions: Sequence[ConclusionItem] = ()
    diagnoses: Sequence[DiagnosisItem] = ()
    recommendation: str | None = None  # one of RECOMMENDATIONS
    recommendation_text: str | None = None
    signatures: Sequence[SignatureItem] = ()
    addenda: Sequence[AddendumItem] = ()
    content_hash: str | None = None  # SHA-256 hex of the signed content
    signed: bool = True  # False: a draft, printed with a visible "draft" mark
    printed_at: datetime | None = None


# --------------------------------------------------------------------------- rendering

@lru_cache(maxsize=1)
def _font_files() -> dict[str, Path]:
    root = resources.files("fontpkg_be_vietnam_pro") / "files"
    files = {"": "BeVietnamPro-Regular.ttf", "B": "BeVietnamPro-Bold.ttf", "I": "BeVietnamPro-Italic.ttf",
             "BI": "BeVietnamPro-BoldItalic.ttf"}
    return {style: Path(str(root / name)) for style, name in files.items()}


def _text(value: str | None) -> str:
    """NFC (precomposed letters render with the font's own glyphs), no control characters."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\t", "    ")
    return "".join(ch for ch in value if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))


def _local(value: datetime | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        raise ValueError("times in the minutes must be timezone-aware")
    return value.astimezone(TZ).strftime(fmt)


class _Pdf(FPDF):
    def __init__(self, doc: MinutesDocument, t: Callable[[str], str], lang: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc
        self.t = t
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)
        for style, path in _font_files().items():
            self.add_font(FONT, style, str(path))
        self.set_title(t(N_("Teleconsultation minutes")) + f" {doc.document_id}")
        self.set_author(doc.consulting_facility.name)
        self.set_creator("Telebridge")
        self.set_lang(lang)

    # running header (from page 2) and footer with page numbers
    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font(FONT, "I", 8)
            self.set_text_color(90, 90, 90)
            title = self.t(N_("Teleconsultation minutes"))
            self.cell(0, 5, f"{title} · {self.doc.document_id}",
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="R")
            self.set_text_color(0, 0, 0)
            self.ln(2)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        left = self.t(N_("Document")) + f": {self.doc.document_id}"
        if self.doc.content_hash:
            left += f" · SHA-256: {self.doc.content_hash[:16]}…"
        self.cell(120, 5, left)
        page = self.t(N_("Page {page} of {pages}")).format(page=self.page_no(), pages="{nb}")
        self.cell(0, 5, page, align="R")
        self.set_text_color(0, 0, 0)


def render_minutes_pdf(m: MinutesDocument, *, lang: str = "vi") -> bytes:
    """The minutes as PDF bytes, labels in ``lang`` ("vi" default, "en")."""
    lang = lang if lang in i18n.SUPPORTED else i18n.DEFAULT
    catalog = i18n.translations(lang)
    t: Callable[[str], str] = catalog.gettext if lang != "en" else str
    pdf = _Pdf(m, t, lang)
    pdf.add_page()
    _masthead(pdf, m, t)
    _general(pdf, m, t)
    _participants(pdf, m, t)
    _patient(pdf, m, t)
    _case(pdf, m, t)
    _conclusions(pdf, m, t)
    _signatures(pdf, m, t)
    _addenda(pdf, m, t)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- sections

W = 174.0  # usable width (A4 210 - 2 × 18)


def _masthead(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    y = pdf.get_y()
    left_w, right_w = 74.0, W - 74.0
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(left_w, 5, _text(m.consulting_facility.name).upper(), align="C",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(left_w, 5, t(N_("No.")) + f": {m.document_id}", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_end = pdf.get_y()
    pdf.set_xy(pdf.l_margin + left_w, y)
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(right_w, 5, t(N_("SOCIALIST REPUBLIC OF VIET NAM")), align="C",
                   new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "BU", 10)
    pdf.multi_cell(right_w, 5, t(N_("Independence - Freedom - Happiness")), align="C",
                   new_x=XPos.LEFT, new_y=YPos.NEXT)
    motto_end = pdf.get_y()
    # the customary short rule under the motto
    pdf.line(pdf.l_margin + left_w + right_w / 2 - 25, motto_end + 0.5, pdf.l_margin + left_w + right_w / 2 + 25,
             motto_end + 0.5)
    when = m.session_start or m.printed_at
    if when is not None:
        pdf.set_font(FONT, "I", 9)
        local = when.astimezone(TZ)
        pdf.set_xy(pdf.l_margin + left_w, motto_end + 2)
        pdf.multi_cell(right_w, 5, t(N_("Day {day} month {month} year {year}")).format(
            day=f"{local.day:02d}", month=f"{local.month:02d}", year=local.year), align="C",
            new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, max(left_end, pdf.get_y()) + 6)
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(W, 8, t(N_("TELECONSULTATION MINUTES")), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not m.signed:
        pdf.set_font(FONT, "B", 10)
        pdf.set_text_color(180, 30, 30)
        pdf.multi_cell(W, 6, t(N_("DRAFT: not signed, not valid as minutes")), align="C",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
    pdf.ln(3)


def _heading(pdf: _Pdf, text: str) -> None:
    if pdf.will_page_break(20):  # keep a heading with the first lines of its section
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font(FONT, "B", 11)
    pdf.set_fill_color(232, 239, 247)
    pdf.multi_cell(W, 7, text, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _field(pdf: _Pdf, label: str, value: str | None, *, empty: str = "—") -> None:
    pdf.set_font(FONT, "B", 10)
    label_w = min(pdf.get_string_width(label + ": ") + 1, 70)
    pdf.set_x(pdf.l_margin)
    pdf.cell(label_w, 5.5, label + ":")
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(W - label_w, 5.5, _text(value) or empty, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _paragraph(pdf: _Pdf, label: str | None, value: str | None, empty: str) -> None:
    if label:
        pdf.set_font(FONT, "B", 10)
        pdf.multi_cell(W, 5.5, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(W, 5.5, _text(value) or empty, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _facility(f: FacilityRef, t: Callable[[str], str]) -> str:
    name = _text(f.name)
    return t(N_("{name} (code {code})")).format(name=name, code=f.code) if f.code else name


def _general(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    _heading(pdf, "I. " + t(N_("General information")))
    if m.session_start or m.session_end:
        start = _local(m.session_start) if m.session_start else "?"
        end = _local(m.session_end) if m.session_end else "?"
        when = t(N_("from {start} to {end} (Vietnam time)")).format(start=start, end=end)
    else:
        when = None
    _field(pdf, t(N_("Time")), when)
    _field(pdf, t(N_("Mode")), t(MODES[m.mode]) if m.mode in MODES else m.mode)
    _field(pdf, t(N_("Requesting facility")), _facility(m.requesting_facility, t))
    _field(pdf, t(N_("Consulting facility")), _facility(m.consulting_facility, t))


def _participants(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    _heading(pdf, "II. " + t(N_("Participants")))
    chair = next((p for p in m.participants if p.role == "chair"), None)
    secretary = next((p for p in m.participants if p.role == "secretary"), None)
    _field(pdf, t(N_("Chair")), _text(chair.name) if chair else None)
    _field(pdf, t(N_("Secretary")), _text(secretary.name) if secretary else None)
    pdf.ln(1.5)
    if not m.participants:
        return
    pdf.set_font(FONT, "", 9)
    head = FontFace(family=FONT, emphasis="BOLD", fill_color=(232, 239, 247))
    with pdf.table(col_widths=(8, 41, 24, 35, 44, 22), line_height=5, headings_style=head,
                   text_align=("CENTER", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT"), width=W) as table:
        row = table.row()
        for h in (N_("No."), N_("Full name"), N_("Title"), N_("Licence number"), N_("Site"), N_("Role")):
            row.cell(t(h))
        for n, p in enumerate(m.participants, 1):
            row = table.row()
            row.cell(str(n))
            row.cell(_text(p.name))
            row.cell(_text(p.title))
            row.cell(_text(p.licence_number))
            row.cell(_text(p.site))
            row.cell(t(ROLES.get(p.role, p.role)))


def _patient(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    p = m.patient
    _heading(pdf, "III. " + t(N_("Patient")))
    _field(pdf, t(N_("Full name")), p.full_name)
    _field(pdf, t(N_("Date of birth")), p.date_of_birth.strftime("%d/%m/%Y") if p.date_of_birth else None)
    _field(pdf, t(N_("Sex")), t(SEXES.get(p.sex, SEXES["unknown"])))
    _field(pdf, t(N_("Citizen ID")), p.citizen_id or t(N_("provisional identity")))
    _field(pdf, t(N_("Address")), p.address)


def _case(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    empty = t(N_("not recorded"))
    s = m.case_summary
    _heading(pdf, "IV. " + t(N_("Case summary")))
    if m.question:
        _paragraph(pdf, t(N_("Question asked")), m.question, empty)
    for label, value in ((N_("History"), s.history), (N_("Examination"), s.examination),
                         (N_("Vital signs"), s.vital_signs), (N_("Investigations"), s.investigations),
                         (N_("Current treatment"), s.current_treatment)):
        _paragraph(pdf, t(label), value, empty)
    _heading(pdf, "V. " + t(N_("Discussion")))
    _paragraph(pdf, None, m.discussion, empty)


def _conclusions(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    empty = t(N_("not recorded"))
    _heading(pdf, "VI. " + t(N_("Conclusions, issue by issue")))
    if not m.conclusions:
        _paragraph(pdf, None, None, empty)
    for n, c in enumerate(m.conclusions, 1):
        if pdf.will_page_break(16):
            pdf.add_page()
        pdf.set_font(FONT, "B", 10)
        pdf.multi_cell(W, 5.5, t(N_("Issue {n}: {issue}")).format(n=n, issue=_text(c.issue)),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 10)
        pdf.set_x(pdf.l_margin + 5)
        pdf.multi_cell(W - 5, 5.5, t(N_("Conclusion: {text}")).format(text=_text(c.conclusion)),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.5)
    _heading(pdf, "VII. " + t(N_("Diagnoses (ICD-10)")))
    if not m.diagnoses:
        _paragraph(pdf, None, None, empty)
    pdf.set_font(FONT, "", 10)
    for d in m.diagnoses:
        pdf.multi_cell(W, 5.5, f"• {_text(d.code)} – {_text(d.title)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _heading(pdf, "VIII. " + t(N_("Recommendation")))
    choice = t(RECOMMENDATIONS[m.recommendation]) if m.recommendation in RECOMMENDATIONS else None
    _field(pdf, t(N_("Course of action")), choice)
    if m.recommendation_text:
        _paragraph(pdf, None, m.recommendation_text, empty)
    # The hub's opinion is a recommendation: the treating clinician stays responsible.
    pdf.ln(2)
    pdf.set_font(FONT, "I", 9)
    pdf.set_fill_color(255, 248, 225)
    pdf.multi_cell(W, 5, t(N_("This opinion is decision support, a recommendation: the clinician treating the patient at "
                              "the requesting facility stays responsible for the diagnosis and treatment, and records "
                              "what was done and the outcome.")), border=1, fill=True, padding=2,
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _signatures(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    if pdf.will_page_break(60):
        pdf.add_page()
    _heading(pdf, "IX. " + t(N_("Signatures")))
    # The customary two columns: secretary on the left, chair on the right.
    y = pdf.get_y()
    half = W / 2
    bottoms = []
    for col, role in ((0, "secretary"), (1, "chair")):
        sig = next((s for s in m.signatures if s.role == role), None)
        person = next((p for p in m.participants if p.role == role), None)
        x = pdf.l_margin + col * half
        pdf.set_xy(x, y)
        pdf.set_font(FONT, "B", 10)
        pdf.multi_cell(half, 5.5, t(ROLES[role]).upper(), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(FONT, "I", 9)
        if sig:
            text = t(N_("Signed electronically at {time}")).format(time=_local(sig.signed_at))
        else:
            text = t(N_("Not signed"))
        pdf.multi_cell(half, 5, text, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_xy(x, pdf.get_y() + 6)  # room for a wet signature on a printed copy
        pdf.set_font(FONT, "B", 10)
        name = sig.name if sig else (person.name if person else "")
        pdf.multi_cell(half, 5.5, _text(name), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        bottoms.append(pdf.get_y())
    pdf.set_xy(pdf.l_margin, max(bottoms) + 4)
    if m.signatures:
        pdf.set_font(FONT, "", 8.5)
        head = FontFace(family=FONT, emphasis="BOLD", fill_color=(232, 239, 247))
        with pdf.table(col_widths=(42, 22, 30, 80), line_height=4.5, headings_style=head, width=W) as table:
            row = table.row()
            for h in (N_("Signed by"), N_("Role"), N_("Signed at"), N_("SHA-256 of the signed content")):
                row.cell(t(h))
            for s in m.signatures:
                row = table.row()
                row.cell(_text(s.name))
                row.cell(t(ROLES.get(s.role, s.role)))
                row.cell(_local(s.signed_at))
                row.cell(s.content_hash)
    if m.content_hash:
        pdf.ln(2)
        pdf.set_font(FONT, "", 8.5)
        pdf.multi_cell(W, 4.5, t(N_("SHA-256 of the minutes content: {hash}")).format(hash=m.content_hash),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _addenda(pdf: _Pdf, m: MinutesDocument, t: Callable[[str], str]) -> None:
    if not m.addenda:
        return
    _heading(pdf, "X. " + t(N_("Signed addenda (corrections)")))
    for n, a in enumerate(m.addenda, 1):
        pdf.set_font(FONT, "B", 10)
        pdf.multi_cell(W, 5.5, t(N_("Addendum {n}: {author}, signed at {time}")).format(
            n=n, author=_text(a.author), time=_local(a.signed_at)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 10)
        pdf.multi_cell(W, 5.5, _text(a.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 8.5)
        pdf.multi_cell(W, 4.5, f"SHA-256: {a.content_hash}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
