"""The portal speaks English, Simplified Chinese and Korean (Flask-Babel, portal/translations).

The compiled catalogs (*.mo) are build output and not committed, so this module compiles every
.po file into place itself before the first request: a missing `make translations` can neither
skip these tests nor make them pass on English text. The catalog tests extract the messages from
the source afresh, so a new string without a Chinese and a Korean translation fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from portal.extensions import babel
from tests.conftest import post_form

REPO_ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO_ROOT / "portal" / "translations"
LOCALES = ("zh", "ko")
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> Iterator[None]:
    """Compile every .po to the .mo Flask-Babel loads, like `make translations` (pybabel compile -f)."""
    for locale in LOCALES:
        catalog = read_catalog(po_path(locale), locale)
        target = po_path(locale).with_suffix(".mo")
        partial = target.with_name(f"messages.mo.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=True)
        os.replace(partial, target)  # atomic: a concurrent run never reads half a file
    # Flask-Babel caches loaded catalogs per process on the shared Babel instance (a cached_property
    # made on first use); drop anything an earlier test loaded before the .mo files existed.
    domain = vars(babel).get("domain_instance")
    if domain is not None:
        domain.cache.clear()
    yield


@pytest.fixture(scope="module")
def extracted_messages(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The messages the code and templates use now, extracted exactly as the README says."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    command = ["-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg", "-k", "_l"]
    command += ["-k", "lazy_gettext", "-o", str(pot), "."]
    result = subprocess.run([sys.executable, *command], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return read_catalog(pot)


def page(client, url: str, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


# --- Choosing the language ----------------------------------------------------------------------


def test_home_page_is_in_english_by_default(client):
    html = page(client, "/")
    assert '<html lang="en">' in html
    assert "How can we help?" in html
    assert "Make a complaint" in html


def test_lang_zh_shows_the_home_page_in_simplified_chinese(client):
    html = page(client, "/?lang=zh")
    assert '<html lang="zh">' in html
    assert "有什么可以帮您？" in html
    assert "我要投诉" in html
    assert "提交反馈" in html
    assert "How can we help?" not in html


def test_lang_ko_shows_the_home_page_in_korean(client):
    html = page(client, "/?lang=ko")
    assert '<html lang="ko">' in html
    assert "무엇을 도와드릴까요?" in html
    assert "민원 접수" in html
    assert "피드백 보내기" in html
    assert "How can we help?" not in html


def test_lang_zh_translates_the_complaint_form_labels_hints_and_button(client, org):
    html = page(client, "/complaints/new?lang=zh")
    assert "您的信息" in html  # template text
    assert "您的姓名" in html  # lazy WTForms label
    assert "请告诉我们发生了什么、时间和地点，以及您希望我们如何处理。" in html  # field description
    assert "我同意将我的个人信息用于处理本次投诉。" in html
    assert "提交投诉" in html
    assert "Send complaint" not in html


def test_lang_ko_translates_the_complaint_form_labels_hints_and_button(client, org):
    html = page(client, "/complaints/new?lang=ko")
    assert "고객 정보" in html
    assert "성함" in html
    assert "어떤 방법으로 연락드릴까요?" in html
    assert "본 민원 처리를 위해 제 개인정보를 이용하는 것에 동의합니다." in html
    assert "민원 제출" in html
    assert "Send complaint" not in html


def test_the_chosen_language_stays_for_the_next_pages_of_the_visit(client, org):
    page(client, "/?lang=ko")
    html = page(client, "/complaints/new")
    assert '<html lang="ko">' in html
    assert "민원 제출" in html


def test_an_unknown_lang_value_is_ignored(client):
    html = page(client, "/?lang=xx", **{"Accept-Language": "fr-FR"})
    assert '<html lang="en">' in html
    assert "How can we help?" in html


@pytest.mark.parametrize(
    ("accept_language", "lang", "expected"),
    [
        ("ko-KR", "ko", "무엇을 도와드릴까요?"),
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko", "무엇을 도와드릴까요?"),
        ("zh-CN,zh;q=0.9", "zh", "有什么可以帮您？"),
        ("fr-FR,de;q=0.8", "en", "How can we help?"),
    ],
)
def test_browser_accept_language_picks_the_language_when_none_was_chosen(
    client, accept_language, lang, expected
):
    html = page(client, "/", **{"Accept-Language": accept_language})
    assert f'<html lang="{lang}">' in html
    assert expected in html


def test_lang_parameter_wins_over_the_browser_accept_language(client):
    html = page(client, "/?lang=zh", **{"Accept-Language": "ko-KR"})
    assert "有什么可以帮您？" in html


def test_validation_messages_on_a_rejected_complaint_are_in_the_chosen_language(client, org):
    page(client, "/?lang=zh")
    response = post_form(client, "/complaints/new", {"name": "王芳", "subject": "", "description": ""})
    html = response.get_data(as_text=True)
    assert response.status_code != 303
    assert "请留下电子邮箱或电话号码，以便我们回复您。" in html
    assert "处理投诉需要您的同意。" in html


def test_error_pages_are_in_the_browser_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "ko-KR"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "요청하신 페이지를 찾을 수 없습니다." in html
    assert "처음으로 돌아가기" in html


# --- The catalogs ------------------------------------------------------------------------------


def test_the_committed_pot_lists_every_message_the_code_uses(extracted_messages):
    committed = read_catalog(TRANSLATIONS / "messages.pot")
    missing = sorted(m.id for m in extracted_messages if m.id and m.id not in committed)
    assert not missing, f"run pybabel extract (see README, Translations); not in messages.pot: {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_has_a_finished_translation(extracted_messages, locale):
    """New strings must arrive with their Chinese and Korean text (README, Translations)."""
    catalog = read_catalog(po_path(locale), locale)
    untranslated = []
    for message in extracted_messages:
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None or not translated.string or not str(translated.string).strip():
            untranslated.append(message.id)
        elif translated.fuzzy:
            untranslated.append(f"{message.id} (fuzzy)")
    assert not untranslated, f"{locale}: {len(untranslated)} untranslated: {untranslated}"


def _same_placeholders(english: str | tuple[str, ...], translated: str | tuple[str, ...]) -> bool:
    """Each translated form keeps the placeholders of an English form; a language with one plural
    form (Chinese, Korean) translates the singular and the plural with a single text."""
    english_forms = english if isinstance(english, tuple) else (english,)
    wanted = [sorted(PLACEHOLDER.findall(form)) for form in english_forms]
    forms = translated if isinstance(translated, tuple) else (translated,)
    return all(sorted(PLACEHOLDER.findall(form)) in wanted for form in forms)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_translation_keeps_the_placeholders_of_its_english_text(locale):
    catalog = read_catalog(po_path(locale), locale)
    problems = [
        f"{message.id!r} -> {message.string!r}"
        for message in catalog
        if message.id and message.string and not _same_placeholders(message.id, message.string)
    ]
    problems += [f"{message.id!r}: {errors}" for message, errors in catalog.check()]
    assert not problems, problems


def test_chinese_catalog_uses_simplified_characters():
    """zh is Simplified Chinese: none of these common traditional forms may appear."""
    traditional = set("們處單狀態關閉資訊員網頁訊號碼稱內與見應為這個給請將從說對還時間點")
    catalog = read_catalog(po_path("zh"), "zh")
    found = {
        message.id: sorted(set(str(message.string)) & traditional)
        for message in catalog
        if message.id and set(str(message.string)) & traditional
    }
    assert not found, found


def test_each_language_link_names_its_own_language_for_screen_readers(client):
    """WCAG 3.1.2: 中文 and 한국어 are read in their own language, not in the page's (issue 11)."""
    html = client.get("/").get_data(as_text=True)
    for code, name in (("en", "English"), ("zh", "中文"), ("ko", "한국어")):
        assert f'hreflang="{code}" lang="{code}">{name}</a>' in html


def test_no_screen_text_names_a_rule_id(extracted_messages):
    """Rule IDs (R1–R26) belong in code, comments and tests, never on a screen or in a mail."""
    rule_id = re.compile(r"\bR\d{1,2}\b")
    named = [
        str(message.id) for message in extracted_messages if message.id and rule_id.search(str(message.id))
    ]
    assert not named, named
