"""The questionnaire (an XLSForm for ODK Collect and KoboToolbox) generated from the design.

:func:`build_form` turns the design manifest (``points.design.json``), the first-stage points
and a small settings file (:class:`FormSettings`) into the three sheets of an XLSForm
(``survey``, ``choices``, ``settings``). The form asks, in this order:

1. the team and the household's questionnaire number (enumerator entries, no question to the
   household), then the **adult consent**; nothing else is asked without it;
2. how the household was reached (``reached_by``: at a first-stage point, or with a coupon);
   for a point, its stratum and the point (a choice list of the design's points, filtered by
   stratum);
3. the household's GPS position; for a point household, the distance to the chosen point is
   computed in the form and the enumerator is warned when it exceeds the listing radius;
4. the network size (refugee households the respondent knows) and the eligible network
   (those of them not registered, when only unregistered households are referred), with
   plausibility constraints (``0 ≤ eligible ≤ network ≤ max``);
5. the coupon the household came with (checked: six digits with a correct Damm check digit)
   and the coupons handed out (scanned from the QR code, or typed; same check; never more than
   the eligible contacts, never twice the same);
6. registration status, the child roster (a repeat: age, sex, the child's **assent** before any
   child question, then the child modules).

No name or phone number is asked unless the settings ask for one; such fields are listed as
personal in the mapping file, so the import stores only salted hashes of them.

The export of this form (Kobo "XML values and headers", group names with ``/``) maps one to
one onto the referral import: :meth:`XLSForm.export_columns` lists the data columns, and
:meth:`XLSForm.mapping` the mapping file written beside the form.

Examples
--------
>>> import geopandas as gpd
>>> import pandas as pd
>>> from shapely.geometry import box
>>> from hiddenpop.spatial import FirstStageDesign, SamplingFrame, sample_points
>>> units = gpd.GeoDataFrame({"unit_id": ["N", "S"], "stratum": ["North", "South"]}, crs=4326,
...                          geometry=[box(36.7, -1.25, 37.0, -1.1), box(36.7, -1.4, 37.0, -1.25)])
>>> design = FirstStageDesign.from_manifest(sample_points(SamplingFrame(units, stratum_col="stratum"), n=2,
...                                                       radius_m=250, rng=1).manifest)
>>> points = pd.DataFrame({"point_id": ["P1", "P2"], "stratum": ["North", "South"],
...                        "lon": [36.80, 36.90], "lat": [-1.20, -1.30]})
>>> form = build_form(design, points, FormSettings())
>>> form.export_columns()[:6]
['start', 'enumerator', 'respondent_id', 'consent/consent_adult', 'reached_by', 'point_stratum']
>>> form.mapping()["columns"]["network_size_eligible"]
'network_size_eligible'
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from hiddenpop.errors import InputFileError
from hiddenpop.field.codes import coupon_constraint

if TYPE_CHECKING:
    from hiddenpop.spatial.inclusion import FirstStageDesign

__all__ = ["FormSettings", "XLSForm", "build_form", "build_point_form", "VISIT_RESULTS", "KOBO_SYSTEM_COLUMNS",
           "CHILD_MODULES", "distance_xpath"]

#: columns KoboToolbox adds to every export (not questions of the form); dropped on import
KOBO_SYSTEM_COLUMNS = ("_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status",
                       "_submitted_by", "__version__", "_tags", "_index")
#: results of a visit to a first-stage point (the point sheet, :func:`build_point_form`)
VISIT_RESULTS = ("listed", "zero", "unreachable")
_VISIT_LABELS = {"listed": "Refugee households found and listed",
                 "zero": "Zero point: no refugee household in the circle",
                 "unreachable": "The point could not be reached (a reserve replaces it)"}
#: child modules the roster can include
CHILD_MODULES = ("school", "work")
_LANG = re.compile(r"^.+ \([a-z]{2,3}(-[A-Za-z0-9]+)?\)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EARTH_RADIUS_M = 6371008.8  # mean Earth radius (IUGG)

_DEFAULT_CONSENT = ("We are carrying out a survey of refugee households in this area. Taking part is voluntary; "
                    "you may stop at any time or skip any question. Your answers are confidential and will be "
                    "used only for statistics. Do you agree to take part?")


@dataclasses.dataclass(frozen=True)
class FormSettings:
    """Questionnaire settings (the ``--settings`` TOML file; every entry has a default).

    Parameters
    ----------
    title, form_id, version
        Form title, ODK form id and version (``[form]``).
    languages
        Form languages as ``"Name (code)"``, e.g. ``["English (en)", "Arabic (ar)"]``; the first
        is the default. Texts come from ``[translations."Name (code)"]`` (key: the question or
        choice name); a missing text falls back to English and is listed by
        :meth:`XLSForm.untranslated`.
    coupons_per_respondent
        Coupons handed to each interviewed household (``[coupons] per_respondent``).
    coupon_expiry_days, contact
        Days a coupon stays valid, and the survey's contact text printed on coupons.
    eligible
        Who may be referred: ``"unregistered"`` (the eligible network question is asked) or
        ``"all"`` refugee households (``[eligibility] network``).
    max_network_size
        Largest plausible network size (``[network] max_size``; the import flags larger values).
    teams
        Team names for a choice list (``[teams] names``); free text when empty.
    respondent_id_pattern
        Regular expression the questionnaire number must match (``[respondent_id] pattern``).
    ask_name, ask_phone
        Ask the head of household's name / a phone number (``[personal] name``, ``phone``);
        personal data: hashed on import, never exported.
    children, child_modules, assent_min_age, max_children
        Child roster (``[children] roster``), its modules (:data:`CHILD_MODULES`), the age from
        which the child's own assent is asked, and the largest number of children accepted.
    consent_text
        The consent statement read to the adult respondent (``[consent] text``).
    target_half_width, design_effect
        The target 95% CI half-width of the registered share and the planning design effect,
        shown on the dashboard (``[targets] ci_half_width``, ``design_effect``).
    translations
        Language → {name → text}.
    """

    title: str = "Refugee household survey"
    form_id: str = "hiddenpop_household"
    version: str = "1"
    languages: tuple[str, ...] = ("English (en)",)
    coupons_per_respondent: int = 2
    coupon_expiry_days: int = 14
    contact: str = "Questions? Ask the survey team."
    eligible: str = "unregistered"
    max_network_size: int = 500
    teams: tuple[str, ...] = ()
    respondent_id_pattern: str | None = None
    ask_name: bool = False
    ask_phone: bool = False
    children: bool = True
    child_modules: tuple[str, ...] = CHILD_MODULES
    assent_min_age: int = 7
    max_children: int = 20
    consent_text: str = _DEFAULT_CONSENT
    target_half_width: float = 0.05
    design_effect: float = 2.0
    translations: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "settings") -> "FormSettings":
        """Build from the parsed TOML (sections form, coupons, eligibility, network, teams, respondent_id,
        personal, children, consent, translations); every problem names the section and key."""
        known = {"form": {"title", "form_id", "version", "languages"},
                 "coupons": {"per_respondent", "expiry_days", "contact"},
                 "eligibility": {"network"}, "network": {"max_size"}, "teams": {"names"},
                 "respondent_id": {"pattern"}, "personal": {"name", "phone"},
                 "children": {"roster", "modules", "assent_min_age", "max_children"}, "consent": {"text"},
                 "targets": {"ci_half_width", "design_effect"},
                 "translations": None}
        for sec, body in data.items():
            if sec not in known:
                raise InputFileError(f"unknown section [{sec}]", where=source, fix=f"use only {sorted(known)}")
            if not isinstance(body, Mapping):
                raise InputFileError(f"[{sec}] must be a section", where=source, fix=f"write [{sec}] on its own line")
            if known[sec] is not None and set(body) - known[sec]:
                raise InputFileError(f"unknown key(s) {sorted(set(body) - known[sec])} in [{sec}]", where=source,
                                     fix=f"use {sorted(known[sec])}")

        def get(sec: str, key: str, default: Any, kind: type | tuple[type, ...]) -> Any:
            v = data.get(sec, {}).get(key, default)
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise InputFileError(f"[{sec}] {key} = {v!r} has the wrong type", where=source,
                                     fix=f"give a {getattr(kind, '__name__', 'value')} (default {default!r})")
            return v

        d = cls()
        s = cls(title=get("form", "title", d.title, str), form_id=get("form", "form_id", d.form_id, str),
                version=str(get("form", "version", d.version, (str, int))),
                languages=tuple(get("form", "languages", list(d.languages), list)),
                coupons_per_respondent=get("coupons", "per_respondent", d.coupons_per_respondent, int),
                coupon_expiry_days=get("coupons", "expiry_days", d.coupon_expiry_days, int),
                contact=get("coupons", "contact", d.contact, str),
                eligible=get("eligibility", "network", d.eligible, str),
                max_network_size=get("network", "max_size", d.max_network_size, int),
                teams=tuple(str(t) for t in get("teams", "names", [], list)),
                respondent_id_pattern=get("respondent_id", "pattern", "", str) or None,
                ask_name=get("personal", "name", False, bool), ask_phone=get("personal", "phone", False, bool),
                children=get("children", "roster", True, bool),
                child_modules=tuple(get("children", "modules", list(CHILD_MODULES), list)),
                assent_min_age=get("children", "assent_min_age", d.assent_min_age, int),
                max_children=get("children", "max_children", d.max_children, int),
                consent_text=get("consent", "text", d.consent_text, str),
                target_half_width=float(get("targets", "ci_half_width", d.target_half_width, (int, float))),
                design_effect=float(get("targets", "design_effect", d.design_effect, (int, float))),
                translations={str(k): dict(v) for k, v in data.get("translations", {}).items()})
        s.check(source=source)
        return s

    def check(self, *, source: str = "settings") -> None:
        """Raise :class:`InputFileError` for values the form cannot be built with."""
        bad_lang = [lang for lang in self.languages if not isinstance(lang, str) or not _LANG.match(lang)]
        if not self.languages or bad_lang:
            raise InputFileError(f"[form] languages {bad_lang or '[]'}: each language needs its code",
                                 where=source, fix='write e.g. languages = ["English (en)", "Arabic (ar)"]')
        if not 1 <= self.coupons_per_respondent <= 9:
            raise InputFileError(f"[coupons] per_respondent = {self.coupons_per_respondent}", where=source,
                                 fix="give 1 to 9 coupons per household (RDS designs use 2 or 3)")
        if self.eligible not in ("unregistered", "all"):
            raise InputFileError(f"[eligibility] network = {self.eligible!r}", where=source,
                                 fix='use "unregistered" (only unregistered households are referred) or "all"')
        if self.max_network_size < 1:
            raise InputFileError(f"[network] max_size = {self.max_network_size}", where=source, fix="give a positive number")
        if not 0 < self.target_half_width < 1 or self.design_effect < 1:
            raise InputFileError(f"[targets] ci_half_width = {self.target_half_width:g}, design_effect = "
                                 f"{self.design_effect:g}", where=source,
                                 fix="give a half-width between 0 and 1 (e.g. 0.05) and a design effect >= 1")
        unknown = set(self.child_modules) - set(CHILD_MODULES)
        if unknown:
            raise InputFileError(f"[children] modules: unknown {sorted(unknown)}", where=source,
                                 fix=f"choose from {list(CHILD_MODULES)}")
        bad_teams = [t for t in self.teams if not _NAME.match(t.replace("-", "_"))]
        if bad_teams:
            raise InputFileError(f"[teams] names {bad_teams} are not valid choice names", where=source,
                                 fix="use letters, digits, '-' and '_' (e.g. team-a)")
        if len(set(self.teams)) != len(self.teams):
            raise InputFileError("[teams] names repeat a name", where=source, fix="give each team once")
        if self.respondent_id_pattern is not None:
            if "'" in self.respondent_id_pattern:
                raise InputFileError("[respondent_id] pattern contains a single quote (')", where=source,
                                     fix="leave it out: the form writes the pattern between single quotes")
            try:
                re.compile(self.respondent_id_pattern)
            except re.error as exc:
                raise InputFileError(f"[respondent_id] pattern is not a regular expression ({exc})", where=source,
                                     fix='e.g. pattern = "^R[0-9]{5}$"') from exc
        extra = set(self.translations) - set(self.languages)
        if extra:
            raise InputFileError(f"[translations] for {sorted(extra)}, which are not in [form] languages",
                                 where=source, fix=f"languages are {list(self.languages)}")


@dataclasses.dataclass
class XLSForm:
    """An XLSForm as three tables (``survey``, ``choices``, ``settings``) plus what the import needs."""

    survey: pd.DataFrame
    choices: pd.DataFrame
    settings: pd.DataFrame
    personal: tuple[str, ...] = ()
    coupon_columns: tuple[str, ...] = ()
    untranslated: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def sheets(self) -> dict[str, pd.DataFrame]:
        """The sheets in workbook order."""
        return {"survey": self.survey, "choices": self.choices, "settings": self.settings}

    def export_columns(self, *, system: bool = False) -> list[str]:
        """Columns of the form's export, as KoboToolbox writes them (group names joined by ``/``).

        Every question and calculation outside a repeat gives one column, in form order; a GPS
        question gives the position and its four parts (``_gps_latitude`` …); notes, groups and
        repeats (exported on their own sheet) give none. With ``system=True`` Kobo's own
        columns (:data:`KOBO_SYSTEM_COLUMNS`) follow.
        """
        out: list[str] = []
        path: list[str] = []
        repeat_depth = 0
        for _, row in self.survey.iterrows():
            kind, name = str(row["type"]), str(row["name"])
            if kind == "begin_group":
                path.append(name)
            elif kind == "end_group":
                path.pop()
            elif kind == "begin_repeat":
                repeat_depth += 1
            elif kind == "end_repeat":
                repeat_depth -= 1
            elif repeat_depth or kind == "note":
                continue
            elif kind == "geopoint":
                prefix = "/".join(path + [""])
                out += [prefix + name] + [f"{prefix}_{name}_{p}" for p in ("latitude", "longitude", "altitude",
                                                                           "precision")]
            else:
                out.append("/".join(path + [name]))
        return out + (list(KOBO_SYSTEM_COLUMNS) if system else [])

    def mapping(self) -> dict[str, Any]:
        """The referral-import mapping of this form's export (written beside the form as TOML)."""
        cols = {c.rsplit("/", 1)[-1] for c in self.export_columns()}
        columns = {c: c for c in ("respondent_id", "redeemed_coupon", "point_id", "network_size",
                                  "network_size_eligible", "interview_time") if c in cols}
        columns.update({"lon": "_gps_longitude", "lat": "_gps_latitude"})
        drop = sorted({"gps", "_gps_altitude", "_gps_precision",
                       *(f"{c}_scan" for c in self.coupon_columns)} & cols) + list(KOBO_SYSTEM_COLUMNS)
        return {"columns": columns, "coupons": {"columns": list(self.coupon_columns)},
                "kobo": {"strip_group_prefixes": True}, "privacy": {"personal": list(self.personal)}, "drop": drop}


def distance_xpath(gps: str, lat: str, lon: str) -> str:
    """XPath of the distance in metres between a GPS answer and a point (equirectangular).

    Exact to a few centimetres at the scale of a listing radius (hundreds of metres); uses only
    ODK functions that Collect and Enketo both have (``selected-at``, ``cos``, ``sqrt``, ``pow``).
    """
    deg = "pi() div 180"
    dlat = f"(number(selected-at({gps}, 0)) - {lat})"
    dlon = f"(number(selected-at({gps}, 1)) - {lon}) * cos({lat} * {deg})"
    return f"{_EARTH_RADIUS_M} * {deg} * sqrt(pow({dlat}, 2) + pow({dlon}, 2))"


# ------------------------------------------------------------------------------------------ texts
_TEXT: dict[str, str] = {
    "enumerator": "Team", "respondent_id": "Questionnaire number of this household",
    "respondent_id:hint": "As written on the team's sheet of numbers.",
    "consent": "Consent", "consent_text": "Read aloud: {consent}", "consent_adult": "Does the adult respondent agree "
    "to take part?", "consent_refused": "Thank the household and save the form. Ask no other question.",
    "reached_by": "How did you reach this household?", "point_stratum": "District (stratum) of the point",
    "point_id": "First-stage point", "location": "Location", "gps": "Record the household's position (GPS)",
    "gps:hint": "Stand at the door of the dwelling.",
    "radius_warning": "Warning: this household is {{dist_m}} m from point {{point_id}}, outside the listing radius of "
    "{radius} m. Check the point chosen and the GPS position; interview it only if it is really inside the circle.",
    "network": "Network", "network_size": "How many refugee households do you know personally (you know them and "
    "they know you) and have been in contact with in the past month?",
    "network_size:hint": "A number from 0 to {max}.",
    "network_size:constraint": "Give a number from 0 to {max}. Check for an extra zero.",
    "network_size_eligible": "Of these {{network_size}} households, how many are NOT registered?",
    "network_size_eligible:constraint": "Cannot be more than the households known ({{network_size}}).",
    "referral": "Coupons", "redeemed_coupon": "Number of the coupon the household brought",
    "redeemed_coupon:hint": "The 6 digits printed on the coupon, without the space.",
    "coupon:constraint": "Not a valid coupon number: check each digit (6 digits, the last is a check digit).",
    "coupon_scan": "Scan the QR code of coupon {i} handed to the household",
    "coupon_scan:hint": "Skip the scan if the camera cannot read it, and type the number below.",
    "coupon": "Number of coupon {i} handed to the household",
    "coupon:hint": "Filled by the scan; type the 6 digits if there was no scan. Leave empty if no more coupon was "
    "given.", "coupon:distinct": "Not a valid coupon number, or the same number as another coupon of this "
    "household.",
    "household": "Household", "registered": "Is the household registered with the refugee authority?",
    "head_name": "Name of the head of household (personal data: never shared)",
    "phone": "Phone number for reminders (personal data: never shared)",
    "n_children": "How many children (aged 0 to 17) live in this household?",
    "n_children:constraint": "Give a number from 0 to {max_children}.",
    "children": "Child", "child_age": "Age of the child (completed years)", "child_sex": "Sex of the child",
    "child_assent": "Read to the child: we would like to ask you a few questions. You can say no. Does the child "
    "agree?", "attends_school": "Does the child attend school this year?",
    "reason_not_in_school": "Main reason the child does not attend school",
    "works": "In the past week, did the child work for pay or help in a family business?",
    "visit_result": "Result of the visit to the point",
    "zero_rule": "A point with no refugee household in its circle is a valid result (a zero point): record it, "
    "never move to another place.",
    "households_found": "Refugee households listed in the circle of {radius} m",
    "unreachable_reason": "Why the point could not be reached",
}
_CHOICES: dict[str, list[tuple[str, str]]] = {
    "yes_no": [("yes", "Yes"), ("no", "No")],
    "reached": [("point", "At a first-stage point (listing)"), ("coupon", "The household brought a coupon")],
    "registered": [("1", "Registered"), ("0", "Not registered")],
    "yes_no01": [("1", "Yes"), ("0", "No")],
    "sex": [("F", "Female"), ("M", "Male")],
    "reasons": [("cost", "Cost"), ("distance", "School too far"), ("documents", "Missing documents"),
                ("language", "Language"), ("work", "Works"), ("other", "Other")],
}


def _first_stage(design: FirstStageDesign | Mapping[str, Any], source: str) -> FirstStageDesign:
    """The typed design (a manifest dict is decoded), refused without a listing radius."""
    from hiddenpop.spatial.inclusion import FirstStageDesign

    design = FirstStageDesign.from_manifest(design)
    if not design.radius_m:
        raise InputFileError("the design has no listing radius", where=source,
                             fix="give the *.design.json of `hiddenpop frame sample --radius R`")
    return design


def build_form(design: FirstStageDesign | Mapping[str, Any], points: pd.DataFrame, settings: FormSettings, *,
               design_source: str = "design", points_source: str = "points") -> XLSForm:
    """Build the XLSForm of a design.

    Parameters
    ----------
    design
        The first-stage design (:func:`hiddenpop.io.spatial.read_design` of the ``*.design.json``
        written by ``hiddenpop frame sample``, or its manifest dict): its listing radius and
        strata are used.
    points
        The first-stage points (``point_id``, ``stratum``, ``lon``, ``lat``; reserves included:
        ``reserve_rank`` > 0 are labelled as reserves).
    settings
        The questionnaire settings.

    Raises
    ------
    InputFileError
        A design without radius or strata, points without the needed columns, a point whose
        stratum is not in the design, a repeated point id.
    """
    settings.check()
    design = _first_stage(design, design_source)
    radius = design.radius_m
    strata = list(design.strata)
    need = [c for c in ("point_id", "stratum", "lon", "lat") if c not in points.columns]
    if need:
        raise InputFileError(f"missing column(s) {need}", where=points_source,
                             fix="give the points.csv written by `hiddenpop frame sample`")
    pts = points.copy()
    pts["point_id"] = pts["point_id"].astype(str)
    pts["stratum"] = pts["stratum"].astype(str)
    dup = pts["point_id"][pts["point_id"].duplicated()]
    if len(dup):
        raise InputFileError(f"point id {dup.iloc[0]!r} appears twice", where=points_source,
                             fix="give each point once (row " + str(int(dup.index[0]) + 2) + ")")
    foreign = pts[~pts["stratum"].isin(strata)]
    if len(foreign):
        r = foreign.index[0]
        raise InputFileError(f"stratum {foreign['stratum'].iloc[0]!r} of point {foreign['point_id'].iloc[0]!r} "
                             f"is not in the design (strata {strata})", where=f"{points_source}, row {r + 2}",
                             fix="use the points and the design of the same `frame sample` run")
    for c in ("lon", "lat"):
        v = pd.to_numeric(pts[c], errors="coerce")
        if v.isna().any():
            r = int(v.index[v.isna()][0])
            raise InputFileError(f"{c} {pts[c].iloc[r]!r} is not a number", where=f"{points_source}, row {r + 2}, "
                                 f"column {c}", fix="give the coordinates in degrees (WGS84)")
        pts[c] = v
    return _Builder(settings, radius, strata, pts).build()


def build_point_form(design: FirstStageDesign | Mapping[str, Any], points: pd.DataFrame, settings: FormSettings, *,
                     design_source: str = "design", points_source: str = "points") -> XLSForm:
    """The point sheet: one record per visit to a first-stage point (listed, zero point, or unreachable).

    A point with no refugee household is a valid **zero** and is recorded, never replaced; a
    point that cannot be reached is recorded with one of the design's reasons
    (:attr:`~hiddenpop.spatial.inclusion.FirstStageDesign.replacement_reasons`) and replaced by the
    next reserve. Its exports feed the dashboard's points section (``hiddenpop referrals dashboard
    --visits``).

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import SamplingFrame, sample_points
    >>> units = gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(36.7, -1.3, 36.9, -1.1)], crs=4326)
    >>> design = sample_points(SamplingFrame(units), n=1, radius_m=250, rng=1).manifest
    >>> points = pd.DataFrame({"point_id": ["P1"], "stratum": ["all"], "lon": [36.8], "lat": [-1.2]})
    >>> build_point_form(design, points, FormSettings()).export_columns()
    ['start', 'enumerator', 'point_stratum', 'point_id', 'visit_result', 'households_found', 'unreachable_reason', 'visit_time']
    """
    design = _first_stage(design, design_source)
    form = build_form(design, points, settings, design_source=design_source, points_source=points_source)
    b = _Builder(settings, design.radius_m, list(design.strata), pd.DataFrame())
    reasons = dict(design.replacement_reasons or {
        "inaccessible": "the point cannot be reached", "unsafe": "the team judged the location unsafe"})
    b.add("start", "start")
    keep = form.survey[form.survey["name"].isin(["enumerator", "point_stratum", "point_id"])].to_dict("records")
    for row in keep:
        row = {k: v for k, v in row.items() if v != ""}
        row.pop("relevant", None)
        b.rows.append(row)
    b.add("select_one visit", "visit_result", "visit_result", required="yes")
    b.add("note", "zero_rule", "zero_rule", relevant="${visit_result} = 'zero'")
    b.add("integer", "households_found", "households_found", required="yes", relevant="${visit_result} = 'listed'",
          constraint=". >= 1 and . <= 500", **{"constraint_message::" + lang: "1 to 500 (choose 'zero point' for none)"
                                              for lang in settings.languages})
    b.add("select_one unreachable", "unreachable_reason", "unreachable_reason", required="yes",
          relevant="${visit_result} = 'unreachable'")
    b.add("end", "visit_time")
    choices = form.choices[form.choices["list_name"].isin(["teams", "strata", "points"])]
    for name in VISIT_RESULTS:
        b.choice("visit", name, name, _VISIT_LABELS[name])
    for name, text in reasons.items():
        b.choice("unreachable", str(name), str(name), str(text))
    survey = pd.DataFrame(b.rows).fillna("")
    first = ["type", "name"] + [c for c in survey.columns if c.startswith("label::")]
    survey = survey[first + [c for c in survey.columns if c not in first]]
    ch = pd.concat([choices, pd.DataFrame(b.choice_rows)], ignore_index=True).fillna("")
    st = pd.DataFrame([{"form_title": f"{settings.title}: point sheet", "form_id": f"{settings.form_id}_points",
                        "version": settings.version, "default_language": settings.languages[0]}])
    untranslated = {k: sorted(set(v) | set(form.untranslated.get(k, []))) for k, v in b.untranslated.items()}
    return XLSForm(survey=survey, choices=ch, settings=st, untranslated=untranslated)


class _Builder:
    def __init__(self, s: FormSettings, radius: float, strata: list[str], points: pd.DataFrame):
        self.s, self.radius, self.strata, self.points = s, radius, strata, points
        self.rows: list[dict[str, Any]] = []
        self.choice_rows: list[dict[str, Any]] = []
        self.untranslated: dict[str, list[str]] = {}
        self.fmt = {"consent": s.consent_text, "radius": f"{radius:g}", "max": s.max_network_size,
                    "max_children": s.max_children}

    # texts in every language: {"label::English (en)": ..., ...}
    def _texts(self, column: str, key: str, default: str | None = None, *, neutral: bool = False,
               **fmt: Any) -> dict[str, str]:
        base = _TEXT.get(key, default if default is not None else key)
        out = {}
        for lang in self.s.languages:
            tr = self.s.translations.get(lang, {})
            if key in tr:
                text = str(tr[key])
            else:
                text = base
                if lang != self.s.languages[0] and not neutral:
                    self.untranslated.setdefault(lang, []).append(key)
            try:
                text = text.replace("{{", "\x00").replace("}}", "\x01").format(**self.fmt, **fmt)
            except (KeyError, IndexError, ValueError) as exc:
                raise InputFileError(f"[translations.\"{lang}\"] {key}: unknown placeholder in {text!r} ({exc})",
                                     where="settings", fix="write {{question_name}} for an answer, and "
                                     "no other braces") from exc
            out[f"{column}::{lang}"] = text.replace("\x00", "${").replace("\x01", "}")
        return out

    def add(self, kind: str, name: str, label_key: str | None = None, *, hint: bool = False,
            constraint_key: str | None = None, fmt: Mapping[str, Any] | None = None, **cols: Any) -> None:
        row: dict[str, Any] = {"type": kind, "name": name}
        fmt = dict(fmt or {})
        if label_key is not None:
            row.update(self._texts("label", label_key, **fmt))
        if hint:
            row.update(self._texts("hint", f"{label_key}:hint", **fmt))
        if constraint_key is not None:
            row.update(self._texts("constraint_message", constraint_key, **fmt))
        row.update({k: v for k, v in cols.items() if v is not None})
        self.rows.append(row)

    def choice(self, list_name: str, name: str, label_key: str, label: str, *, neutral: bool = False,
               **extra: Any) -> None:
        row = {"list_name": list_name, "name": name}
        row.update(self._texts("label", f"{list_name}:{label_key}", default=label, neutral=neutral))
        row.update(extra)
        self.choice_rows.append(row)

    def build(self) -> XLSForm:
        s = self.s
        yes = "${consent_adult} = 'yes'"
        self.add("start", "start")
        if s.teams:
            self.add("select_one teams", "enumerator", "enumerator", required="yes")
        else:
            self.add("text", "enumerator", "enumerator", required="yes")
        rid_constraint = f"regex(., '{s.respondent_id_pattern}')" if s.respondent_id_pattern else None
        self.add("text", "respondent_id", "respondent_id", hint=True, required="yes", constraint=rid_constraint,
                 **({"constraint_message::" + lang: f"Must match {s.respondent_id_pattern}"
                     for lang in s.languages} if rid_constraint else {}))
        self.add("begin_group", "consent", "consent")
        self.add("note", "consent_text", "consent_text")
        self.add("select_one yes_no", "consent_adult", "consent_adult", required="yes")
        self.add("note", "consent_refused", "consent_refused", relevant="${consent_adult} = 'no'")
        self.add("end_group", "")
        self.add("select_one reached", "reached_by", "reached_by", required="yes", relevant=yes)
        at_point = f"{yes} and ${{reached_by}} = 'point'"
        self.add("select_one strata", "point_stratum", "point_stratum", required="yes", relevant=at_point)
        self.add("select_one points", "point_id", "point_id", required="yes", relevant=at_point,
                 choice_filter="stratum = ${point_stratum}")
        # the GPS position and the within-radius check (point households)
        self.add("begin_group", "location", "location", relevant=yes)
        self.add("geopoint", "gps", "gps", hint=True, required="yes")
        plat = "instance('points')/root/item[name = ${point_id}]/lat"
        plon = "instance('points')/root/item[name = ${point_id}]/lon"
        self.add("calculate", "dist_m", calculation="if(${point_id} != '' and ${gps} != '', round("
                 + distance_xpath("${gps}", plat, plon) + ", 0), '')")
        self.add("note", "radius_warning", "radius_warning",
                 relevant=f"${{reached_by}} = 'point' and ${{dist_m}} != '' and ${{dist_m}} > {self.radius:g}")
        self.add("end_group", "")
        # network size and eligible network
        self.add("begin_group", "network", "network", relevant=yes)
        self.add("integer", "network_size", "network_size", hint=True, required="yes",
                 constraint=f". >= 0 and . <= {s.max_network_size}", constraint_key="network_size:constraint")
        if s.eligible == "unregistered":
            self.add("integer", "network_size_eligible", "network_size_eligible", required="yes",
                     constraint=". >= 0 and . <= ${network_size}",
                     constraint_key="network_size_eligible:constraint")
            eligible = "${network_size_eligible}"
        else:
            eligible = "${network_size}"
        self.add("end_group", "")
        # coupons: the one brought, those handed out
        self.add("begin_group", "referral", "referral", relevant=yes)
        self.add("text", "redeemed_coupon", "redeemed_coupon", hint=True, required="yes",
                 relevant="${reached_by} = 'coupon'", constraint=coupon_constraint(),
                 constraint_key="coupon:constraint")
        coupon_cols = []
        for i in range(1, s.coupons_per_respondent + 1):
            name = f"coupon_{i}"
            coupon_cols.append(name)
            relevant = f"{eligible} >= {i}" + (f" and ${{coupon_{i - 1}}} != ''" if i > 1 else "")
            others = ["${redeemed_coupon}"] + [f"${{coupon_{j}}}" for j in range(1, i)]
            distinct = " and ".join(f". != {o}" for o in others)
            self.add("barcode", f"{name}_scan", "coupon_scan", hint=True, fmt={"i": i}, relevant=relevant)
            self.add("text", name, "coupon", hint=True, fmt={"i": i}, relevant=relevant,
                     constraint=f"{coupon_constraint()} and {distinct}", constraint_key="coupon:distinct",
                     calculation=f"${{{name}_scan}}", trigger=f"${{{name}_scan}}")
        self.add("end_group", "")
        # household: registration, optional contact, child roster
        self.add("begin_group", "household", "household", relevant=yes)
        self.add("select_one registered", "registered", "registered", required="yes")
        personal = []
        if s.ask_name:
            self.add("text", "head_name", "head_name")
            personal.append("head_name")
        if s.ask_phone:
            self.add("text", "phone", "phone", constraint="regex(., '^[+]?[0-9 ]{6,20}$')",
                     **{"constraint_message::" + lang: "Digits only (a leading + allowed)" for lang in s.languages})
            personal.append("phone")
        if s.children:
            self.add("integer", "n_children", "n_children", required="yes",
                     constraint=f". >= 0 and . <= {s.max_children}", constraint_key="n_children:constraint")
            self.add("begin_repeat", "children", "children", repeat_count="${n_children}")
            self.add("integer", "child_age", "child_age", required="yes", constraint=". >= 0 and . <= 17",
                     **{"constraint_message::" + lang: "0 to 17" for lang in s.languages})
            self.add("select_one sex", "child_sex", "child_sex", required="yes")
            may_ask = f"${{child_age}} >= 5 and (${{child_age}} < {s.assent_min_age} or ${{child_assent}} = 'yes')"
            self.add("select_one yes_no", "child_assent", "child_assent", required="yes",
                     relevant=f"${{child_age}} >= {s.assent_min_age}")
            if "school" in s.child_modules:
                self.add("select_one yes_no01", "attends_school", "attends_school", required="yes",
                         relevant=may_ask.replace(">= 5", ">= 6"))
                self.add("select_one reasons", "reason_not_in_school", "reason_not_in_school", required="yes",
                         relevant="${attends_school} = '0'")
            if "work" in s.child_modules:
                self.add("select_one yes_no01", "works", "works", required="yes", relevant=may_ask)
            self.add("end_repeat", "")
        self.add("end_group", "")
        self.add("end", "interview_time")
        self._choices()
        survey = pd.DataFrame(self.rows).fillna("")
        first = ["type", "name"] + [c for c in survey.columns if c.startswith("label::")]
        survey = survey[first + [c for c in survey.columns if c not in first]]
        choices = pd.DataFrame(self.choice_rows).fillna("")
        settings = pd.DataFrame([{"form_title": s.title, "form_id": s.form_id, "version": s.version,
                                  "default_language": s.languages[0]}])
        return XLSForm(survey=survey, choices=choices, settings=settings, personal=tuple(personal),
                       coupon_columns=tuple(coupon_cols),
                       untranslated={k: sorted(set(v)) for k, v in self.untranslated.items()})

    def _choices(self) -> None:
        for list_name, items in _CHOICES.items():
            for name, label in items:
                self.choice(list_name, name, name, label)
        for t in self.s.teams:
            self.choice("teams", t, t, t, neutral=True)
        for st in self.strata:
            self.choice("strata", st, st, st, neutral=True)
        for _, p in self.points.iterrows():
            reserve = int(p["reserve_rank"]) if "reserve_rank" in p and pd.notna(p["reserve_rank"]) else 0
            label = p["point_id"] + (f" (reserve {reserve})" if reserve else "")
            self.choice("points", p["point_id"], p["point_id"], label, neutral=True, stratum=p["stratum"],
                        lat=f"{p['lat']:.7f}", lon=f"{p['lon']:.7f}")
