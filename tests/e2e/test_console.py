"""The operator console in a real browser, against a real server on SQLite and PostgreSQL.

Each screen is also written as a 1400x900 screenshot to tests/e2e/screenshots/ (git-ignored)
for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import BACKENDS
from tests.e2e.browser import IN_CI, SCREENSHOTS, World, launch
from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow

SUMMARY = """query($from: DateTime!, $to: DateTime!) {
  ledgerSummary(from: $from, to: $to, groupBy: DAY) { outstanding rows { issued spent expired } }
  memberStats(from: $from, to: $to) { total new }
}"""
SIMULATE = """query($s: String!, $from: DateTime!, $to: DateTime!) {
  rulesSimulate(source: $s, from: $from, to: $to) { points campaigns { key points members } }
}"""
CAMPAIGNS = "{ campaigns { key version } }"
TYPO = 'campaign "weekend" "Weekend bonus" {\n  chekin award 5\n}\n'


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'jifen.db'}"
        w = World(url).start()
        yield w
        w.stop()
        return
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            w = World(url).start()
            yield w
            w.stop()
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(scope="module")
def browser():
    runner = playwright_api.sync_playwright().start()
    try:
        chromium = launch(runner)
        yield chromium
        chromium.close()
    finally:
        runner.stop()


@pytest.fixture
def page(browser, world):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()


def sign_in(page, world: World, who: str):
    page.goto(world.url)
    page.get_by_label("API key").fill(world.keys.get(who, who))
    page.get_by_role("button", name="Sign in").click()
    page.locator("nav.side").wait_for()


def shoot(page, world: World, name: str, top: str | None = None) -> None:
    if top is not None:
        page.locator(top).evaluate("el => el.scrollIntoView()")
    backend = "pg" if world.server.database_url.startswith("postgres") else "sqlite"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_timeout(150)  # let a ResizeObserver draw the charts at their width
    page.screenshot(path=SCREENSHOTS / f"{backend}-{name}.png")


def screens(page) -> list[str]:
    return page.locator("nav.side a").evaluate_all("links => links.map(a => a.dataset.screen)")


def kpi(page, name: str) -> int:
    return int(page.get_by_test_id(name).get_attribute("data-value"))


def test_an_operator_prices_a_rule_change_and_publishes_it(page, world):
    sign_in(page, world, "operator")
    assert screens(page) == ["dashboard", "members", "campaigns", "reviews", "catalog"]
    page.locator(".dashboard[data-loaded]").wait_for()
    form = page.locator("form.toolbar")
    since, until = form.get_attribute("data-from"), form.get_attribute("data-to")
    api = world.data("operator", SUMMARY, {"from": since, "to": until})
    rows = api["ledgerSummary"]["rows"]
    assert kpi(page, "kpi-issued") == sum(r["issued"] for r in rows) == 2 + 10 + 50 + 20 - 0
    assert kpi(page, "kpi-spent") == sum(r["spent"] for r in rows)
    assert kpi(page, "kpi-expired") == sum(r["expired"] for r in rows)
    assert kpi(page, "kpi-outstanding") == api["ledgerSummary"]["outstanding"]
    assert kpi(page, "kpi-members") == api["memberStats"]["total"] == 3
    assert page.locator("[data-panel=runs] tbody tr").count() >= 1  # the tick in setup
    shoot(page, world, "dashboard")

    page.locator("a[data-screen=campaigns]").click()
    status = page.get_by_test_id("rules-status")
    page.get_by_text("No problems.").wait_for()
    editor = page.get_by_label("Rule source of the whole program")
    live = editor.input_value()
    editor.focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n" + TYPO)  # as an operator types it, checked as they go
    typo_line = (live + "\n" + TYPO).split("\n").index("  chekin award 5") + 1
    marked = page.locator(f".gutter .ln.error[data-line='{typo_line}']")
    marked.wait_for()
    problem = page.locator(f"ul.diagnostics li[data-line='{typo_line}']")
    assert "UNKNOWN_EVENT" in problem.inner_text()
    assert "checkin" in problem.inner_text()  # did you mean
    assert status.get_attribute("data-errors") == "1"
    shoot(page, world, "campaigns-diagnostic", top="section[aria-labelledby=rules-title]")

    fixed = (
        (live + "\n" + TYPO)
        .replace("chekin", "checkin")
        .replace("birthday award 88", "birthday award 100")
    )
    editor.fill(fixed)
    page.get_by_text("No problems.").wait_for()
    assert page.locator(".gutter .ln.error").count() == 0

    page.get_by_role("button", name="Diff against live").click()
    diff = page.get_by_test_id("diff").inner_text()
    assert "+   checkin award 5" in diff and "-   birthday award 88" in diff

    page.get_by_role("button", name="Simulate").click()
    page.get_by_test_id("simulation").wait_for()
    sim_from = page.locator("input[name=simFrom]").input_value()
    sim = world.data(
        "operator",
        SIMULATE,
        {
            "s": fixed,
            "from": page.evaluate(f"import('./js/time.js').then(t => t.dayStart('{sim_from}'))"),
            "to": until,
        },
    )["rulesSimulate"]
    assert int(page.get_by_test_id("sim-points").inner_text().replace(",", "")) == sim["points"]
    weekend = next(c for c in sim["campaigns"] if c["key"] == "weekend")
    assert weekend == {"key": "weekend", "points": 5, "members": 1}  # Ada's check-in
    rules_table = page.locator("table.rules").inner_text()
    assert "checkin award 5" in rules_table
    shoot(page, world, "campaigns-simulation", top="section[aria-labelledby=rules-title]")

    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Published.", exact=True).first.wait_for()
    versions = {c["key"]: c["version"] for c in world.data("operator", CAMPAIGNS)["campaigns"]}
    assert versions["moments"] == 2 and versions["weekend"] == 1 and versions["invite"] == 1
    for key, version in versions.items():
        row = page.locator(f"tr[data-campaign='{key}']")
        assert row.get_attribute("data-version") == str(version)
    assert "v2" in page.locator("tr[data-campaign='moments']").inner_text()
    assert page.errors == []


STANDING = """query($x: String!) {
  member(externalId: $x) { level { key qualifyingFigure nextLevel toNext } streak { current
    freezesHeld } badges { name } }
  levels { steps { key members } }
  memberStats(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { total }
}"""


def test_levels_streaks_and_badges_show_what_the_api_says(page, world):
    sign_in(page, world, "operator")
    api = world.data("operator", STANDING, {"x": "wx-ada"})
    page.locator(".dashboard[data-loaded]").wait_for()
    chart = page.get_by_test_id("levels")
    shown = chart.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].innerText, Number(r.cells[1].innerText)])"
    )
    ladder = api["levels"]
    expected = [[s["key"], s["members"]] for s in reversed(ladder["steps"])]
    held = sum(s["members"] for s in ladder["steps"])
    assert shown == [*expected, ["(no level)", api["memberStats"]["total"] - held]]
    shoot(page, world, "dashboard-levels", top="[data-panel=levels]")

    page.goto(f"{world.url}#/members/{world.ids['wx-ada']}")
    panel = page.locator("[data-panel=standing]")
    panel.wait_for()
    ada = api["member"]
    figure = page.get_by_test_id("level-figure").inner_text().replace(",", "")
    assert int(figure) == ada["level"]["qualifyingFigure"]
    if ada["level"]["nextLevel"]:
        assert ada["level"]["nextLevel"] in page.get_by_test_id("level-next").inner_text()
    days = ada["streak"]["current"]
    shown = page.get_by_test_id("streak").inner_text()
    assert shown.startswith(f"{days} day ·" if days == 1 else f"{days} days")
    assert int(page.get_by_test_id("freezes").inner_text()) == ada["streak"]["freezesHeld"]
    badges = page.get_by_test_id("badges").inner_text()
    assert all(b["name"] in badges for b in ada["badges"])
    assert ada["badges"] or "No badge yet." in badges
    shoot(page, world, "member-standing", top="[data-panel=standing]")
    assert page.errors == []


def test_a_reviewer_sees_the_queues_only_and_an_approval_pays(page, world):
    before = world.member("wx-ada")
    assert before["pendingPoints"] == 20
    sign_in(page, world, "reviewer")
    assert screens(page) == ["reviews"]
    row = page.locator("[data-queue=awards] tbody tr", has_text="wx-ada")
    row.wait_for()
    assert page.locator("[data-queue=submissions] tbody tr", has_text="wx-cai").count() == 1
    assert page.locator("[data-queue=adjustments]").count() == 0  # operators only
    shoot(page, world, "reviews")
    row.get_by_label(re.compile("^Reason for wx-ada")).fill("first check-in confirmed")
    row.get_by_role("button", name=re.compile("^Approve wx-ada")).click()
    page.get_by_test_id("review-status").get_by_text("Approved").wait_for()
    after = world.member("wx-ada")
    assert after["availablePoints"] == before["availablePoints"] + 20
    assert after["pendingPoints"] == 0
    assert page.locator("[data-queue=awards] tbody tr", has_text="wx-ada").count() == 0
    assert page.errors == []


def test_an_analyst_reads_everything_and_changes_nothing(page, world):
    sign_in(page, world, "analyst")
    assert screens(page) == ["dashboard", "members", "campaigns", "catalog"]
    page.goto(f"{world.url}#/members/{world.ids['wx-bob']}")
    page.locator("table.ledger").wait_for()
    assert "welcome gift" in page.locator("table.ledger").inner_text()
    assert page.get_by_role("button", name="Adjust").count() == 0
    assert page.get_by_label("Points", exact=True).count() == 0
    assert page.get_by_role("button", name=re.compile("^Reverse")).count() == 0
    page.locator("a[data-screen=campaigns]").click()
    page.get_by_role("button", name="Simulate").wait_for()
    for absent in ("Publish", "Format"):
        assert page.get_by_role("button", name=absent).count() == 0
    assert page.errors == []


def test_a_member_token_and_a_wrong_key_are_refused(page, world):
    token = world.mutate(
        "admin",
        "mutation($m: ID!) { memberTokenCreate(memberId: $m) { token userErrors { code } } }",
        {"m": world.ids["wx-ada"]},
    )["token"]
    page.goto(world.url)
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.get_by_text("A member token cannot open the console").wait_for()
    assert page.locator("nav.side").count() == 0
    assert page.evaluate("sessionStorage.getItem('jifen.key')") is None
    page.get_by_label("API key").fill("jf_000000000000_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    alert.get_by_text("This key was not accepted").wait_for()
    shoot(page, world, "signin-refused")


def test_the_console_needs_nothing_but_its_own_server(page, world):
    origin = world.server.url
    blocked = []

    def only_the_server(route):
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_server)
    sign_in(page, world, "admin")
    for screen in ("dashboard", "members", "campaigns", "reviews", "catalog"):
        page.locator(f"a[data-screen={screen}]").click()
        page.locator(f"main[data-screen={screen}] h1").wait_for()
        page.wait_for_load_state("networkidle")
    page.locator("[data-lottery] button").first.click()
    page.locator("[data-lottery] table", has_text="wx-bob").wait_for()
    with page.expect_download() as got:
        page.get_by_role("button", name="Download CSV").click()
    csv = got.value.path().read_text()
    assert csv.startswith("entry_id,") and "welcome gift" in csv
    shoot(page, world, "catalog")
    page.goto(f"{world.url}#/members/{world.ids['wx-ada']}")
    page.locator("table.ledger").wait_for()
    shoot(page, world, "member")
    assert blocked == []
    assert page.errors == []
    # The key is the session's only: nothing in localStorage, no cookie.
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("sessionStorage.getItem('jifen.key')") == world.keys["admin"]


def test_every_control_is_labelled_reachable_by_keyboard_and_fits_1024_pixels(page, world):
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, world, "admin")
    for screen in ("dashboard", "members", "campaigns", "reviews", "catalog"):
        page.goto(f"{world.url}#/{screen}")
        page.locator(f"main[data-screen={screen}] h1").wait_for()
        page.wait_for_load_state("networkidle")
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby')
                && !(el.tagName === 'BUTTON' && el.textContent.trim()))
              .map(el => el.outerHTML)"""
        )
        assert unlabelled == [], (screen, unlabelled)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1024, (screen, width)
        reachable = page.evaluate(
            """() => [...document.querySelectorAll(
                'a[href], button:not([disabled]), input, select, textarea')]
              .filter(el => el.offsetParent !== null && !el.closest('.skip'))
              .map((el, i) => { el.dataset.reach = i; return String(i); })"""
        )
        page.locator("body").focus()
        page.evaluate("document.activeElement.blur()")
        seen = set()
        for _ in range(len(reachable) + 10):
            page.keyboard.press("Tab")
            seen.add(page.evaluate("document.activeElement.dataset.reach"))
        assert set(reachable) <= seen, (screen, set(reachable) - seen)
    page.set_viewport_size({"width": 1400, "height": 900})


def test_the_console_speaks_chinese_when_asked(page, world):
    sign_in(page, world, "operator")
    page.get_by_label("Language").select_option("zh")
    assert page.locator("a[data-screen=dashboard]").inner_text() == "概览"
    page.locator(".dashboard[data-loaded]").wait_for()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    shoot(page, world, "dashboard-zh")
    page.reload()  # kept for the session
    assert page.locator("a[data-screen=members]").inner_text() == "会员"
    page.get_by_label("语言").select_option("en")
    page.locator("a[data-screen=members]", has_text="Members").wait_for()


def test_the_page_comes_in_the_servers_language_and_loads_only_from_it(db, clock):
    from starlette.testclient import TestClient

    from server.app import create_app
    from server.config import Config

    with TestClient(create_app(clock=clock, config=Config(language="zh"))) as client:
        page = client.get("/console/")
        assert page.status_code == 200
        assert '<html lang="zh" data-language="zh">' in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        script = client.get("/console/js/main.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert script.headers["content-security-policy"] == policy
        assert (
            client.get("/console", follow_redirects=False).headers["location"].endswith("/console/")
        )
        assert client.get("/console/../server/config.py").status_code == 404


HISTORY = "\n".join(
    [
        '{"kind": "join", "externalId": "old-1", "community": "fans", '
        '"at": "2026-01-05T09:00:00+08:00"}',
        '{"kind": "join", "externalId": "old-2", "community": "fans", "invitedBy": "old-1", '
        '"at": "2026-01-06T09:00:00+08:00"}',
        '{"kind": "balance", "externalId": "old-1", "points": 300, '
        '"at": "2026-01-05T10:00:00+08:00"}',
    ]
)


def test_an_admin_tries_then_imports_history(page, world, tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text(HISTORY)
    sign_in(page, world, "admin")
    page.locator("a[data-screen=catalog]").click()
    page.get_by_label("History file").set_input_files(str(history))
    page.get_by_role("button", name="Dry run").click()
    status = page.get_by_role("status").filter(has_text="records")
    status.wait_for()
    assert "Dry run of 3 records: would import 3" in status.text_content()
    assert world.data("admin", '{ member(externalId: "old-1") { id } }')["member"] is None
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("3 records: imported 3").wait_for()
    shoot(page, world, "import", "#import-title")
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("imported 0, 3 already imported").wait_for()
    found = world.data("admin", '{ member(externalId: "old-1") { availablePoints } }')
    assert found["member"]["availablePoints"] >= 300
