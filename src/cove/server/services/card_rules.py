"""The Hub's rules for a card's metadata, as ``/api/validate-yaml`` checks them before an upload.

The stock client asks before every commit that holds a ``README.md``: errors refuse the upload
("Invalid metadata in README.md"), warnings are shown (a card without metadata). Only the fields
the Hub indexes are checked, and only their shape: a card may hold any other key. The messages are
worded as the Hub's ("``"license" must be one of [...]``"), which ``RepoCard.validate`` shows as
``- Error: <message>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cove.formats.cards import split_card

#: The license identifiers of the Hub's list (docs/hub/repositories-licenses.md), ``other`` and ``unknown``.
LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr",
    "mpl-2.0", "odc-by", "odbl", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib",
    "pddl", "lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3",
    "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma", "unknown", "other",
)
SPACE_SDKS = ("gradio", "streamlit", "docker", "static")
SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
#: Keys whose value is a string or a list of strings.
STRING_OR_LIST = ("tags", "language", "datasets", "metrics", "base_model", "models", "task_categories",
                  "task_ids", "size_categories", "language_creators", "annotations_creators", "source_datasets",
                  "multilinguality")
STRINGS = ("pipeline_tag", "library_name", "license_name", "license_link")
DOCS = {"model": "model-cards", "dataset": "datasets-cards", "space": "spaces-config-reference"}


@dataclass
class CardReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _strings(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _model_index(value: object) -> str | None:
    if not isinstance(value, list):
        return '"model-index" must be an array'
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return f'"model-index[{i}].name" is required and must be a string'
        if not isinstance(item.get("results"), list):
            return f'"model-index[{i}].results" is required and must be an array'
    return None


def validate(content: str, repo_type: str = "model") -> CardReport:
    """The errors and warnings of a card's metadata for a repo of ``repo_type``."""
    report = CardReport()
    try:
        data, _ = split_card(content)
    except ValueError as e:
        report.errors.append(str(e))
        return report
    if not data:
        page = DOCS.get(repo_type, DOCS["model"])
        report.warnings.append("Empty or missing yaml metadata in repo card "
                               f"(https://huggingface.co/docs/hub/{page}#card-metadata)")
        return report
    license_ = data.get("license")
    if license_ is not None and not (isinstance(license_, str) and license_ in LICENSES or isinstance(
            license_, list) and license_ and all(isinstance(v, str) and v in LICENSES for v in license_)):
        report.errors.append(f'"license" must be one of [{", ".join(LICENSES)}]')
    if "model-index" in data:
        problem = _model_index(data["model-index"])
        if problem:
            report.errors.append(problem)
    for key in STRING_OR_LIST:
        if data.get(key) is not None and not _strings(data[key]):
            report.errors.append(f'"{key}" must be a string or an array of strings')
    for key in STRINGS:
        if data.get(key) is not None and not isinstance(data[key], str):
            report.errors.append(f'"{key}" must be a string')
    if repo_type == "space":
        if data.get("sdk") is not None and data["sdk"] not in SPACE_SDKS:
            report.errors.append(f'"sdk" must be one of [{", ".join(SPACE_SDKS)}]')
        for key in ("colorFrom", "colorTo"):
            if data.get(key) is not None and data[key] not in SPACE_COLORS:
                report.errors.append(f'"{key}" must be one of [{", ".join(SPACE_COLORS)}]')
        if data.get("pinned") is not None and not isinstance(data["pinned"], bool):
            report.errors.append('"pinned" must be a boolean')
    return report
