"""A real browser over the two UIs: Debian's Chromium, driven by Playwright, opens the Dagster UI and
the MLflow UI on a store built as `make run` builds it (a private one, in the test's temporary folder)
and checks that pages render, by waiting for their text and images, not for HTTP status codes.

Runs only with EMERGENT_PIPELINE_BROWSER_TEST=1 (`make browser-test` sets it, and installs Debian's
``chromium`` when /usr/bin/chromium is missing); plain `make test` skips it. A screenshot of every
page, failed or passed, is written to the ``screenshots`` folder printed at the start.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from emergent_pipeline.paths import CHAMPION, MODEL_NAME, PROJECT_ROOT, TRACKING_URI_ENV, private_stores

pytestmark = pytest.mark.skipif(os.environ.get("EMERGENT_PIPELINE_BROWSER_TEST") != "1",
                                reason="a browser test: `make browser-test` runs it (EMERGENT_PIPELINE_BROWSER_TEST=1)")

CHROMIUM = os.environ.get("EMERGENT_PIPELINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BIN = Path(sys.executable).parent
WAIT_MS = 90_000
"""How long a page may take to show what is asserted: the UIs query a store while other work runs."""
REGIMES = re.compile(r"^\s*(BULL|BEAR|SIDEWAYS|UNKNOWN)\s*$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """A server in its own process group (``stop`` ends it with all its children), output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every server's process group, then SIGKILL to any still there after 20 s."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def screenshots(folder) -> Path:
    shots = folder / "screenshots"
    shots.mkdir()
    print(f"\nbrowser test: screenshots and server logs in {folder}", flush=True)
    return shots


@pytest.fixture(scope="module")
def uis(folder, screenshots):
    """Builds the private store with `emergent-pipeline run full_backfill` (as `make run`) while the
    Dagster webserver starts on its instance, then starts the MLflow server on its tracking store;
    yields both base URLs once they answer, and stops both process groups at the end."""
    env = {**os.environ, **private_stores(folder / "store")}
    dagster_port, mlflow_port = free_port(), free_port()
    dagster_url, mlflow_url = f"http://127.0.0.1:{dagster_port}", f"http://127.0.0.1:{mlflow_port}"
    servers: list[subprocess.Popen] = []
    started = time.monotonic()
    try:
        dagster_log = folder / "dagster-webserver.log"
        servers.append(start([str(BIN / "dagster-webserver"), "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1",
                              "-p", str(dagster_port)], env, dagster_log, PROJECT_ROOT))
        run_log = folder / "full_backfill.log"
        with open(run_log, "wb") as out:
            built = subprocess.run([str(BIN / "emergent-pipeline"), "run", "full_backfill"], env=env, cwd=PROJECT_ROOT,
                                   stdout=out, stderr=subprocess.STDOUT, timeout=1800)
        assert built.returncode == 0, f"full_backfill failed:\n{run_log.read_text()[-4000:]}"
        print(f"browser test: store built in {time.monotonic() - started:.0f} s", flush=True)
        mlflow_log = folder / "mlflow-server.log"
        servers.append(start([str(BIN / "mlflow"), "server", "--backend-store-uri", env[TRACKING_URI_ENV], "--host", "127.0.0.1",
                              "--port", str(mlflow_port), "--workers", "1"], env, mlflow_log, folder))
        wait_for_http(f"{dagster_url}/server_info", servers[0], dagster_log)
        wait_for_http(f"{mlflow_url}/health", servers[1], mlflow_log)
        print(f"browser test: Dagster UI on {dagster_url}, MLflow UI on {mlflow_url}, "
              f"up {time.monotonic() - started:.0f} s after the start", flush=True)
        yield {"dagster": dagster_url, "mlflow": mlflow_url, "tracking_uri": env[TRACKING_URI_ENV]}
    finally:
        stop(servers)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium puts a Unix socket in TMPDIR and aborts when its path is over the 108-byte limit
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                              env={**os.environ, "TMPDIR": "/tmp"})
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, screenshots, request):
    """A fresh page (1600×1000); its screenshot is saved after the test, passed or failed, and the
    page's JavaScript errors are printed."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    shot = screenshots / f"{request.node.name}.png"
    try:
        page.screenshot(path=shot)
        print(f"\n  screenshot: {shot}")
    finally:
        if errors:
            print(f"  JavaScript errors on {page.url}: {errors}")
        context.close()


def test_asset_graph_shows_the_assets(uis, page):
    from playwright.sync_api import expect

    page.goto(f"{uis['dagster']}/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    graph = page.locator("[data-svg-viewport]")
    expect(graph).to_be_visible()
    # With this many assets the graph opens with each group folded into one box: unfold them all.
    expect(graph.get_by_text("signals", exact=True).first).to_be_visible()
    # the graph's context menu: a right click on its background (bottom left; the top has the search bar).
    # Dagster's "Join the Dagster community" dialog, which could cover it, is off in the test's instance (nux).
    box = graph.bounding_box()
    graph.click(button="right", position={"x": 20, "y": box["height"] - 20})
    expand = page.get_by_role("menuitem", name="Expand all groups")
    expect(expand).to_be_visible()
    expand.click()
    for asset in ["universe", "price_history", "market_context", "consensus_signals", "signal_model", "serving_snapshot"]:
        expect(graph.get_by_text(asset, exact=True)).to_be_visible()
    expect(page.get_by_text("Join the Dagster community")).to_have_count(0)  # the dialog shows a second after a page opens, if at all


def test_market_context_shows_its_regime_chart(uis, page):
    from playwright.sync_api import expect

    page.goto(f"{uis['dagster']}/assets/market_context")
    regime = page.locator("tr", has=page.get_by_text("current_regime", exact=True)).first.locator("td").last
    expect(regime).to_have_text(REGIMES)
    chart_row = page.locator("tr", has=page.get_by_text("regime_chart", exact=True)).first
    expect(chart_row).to_be_visible()
    chart_row.get_by_text("[Show Markdown]").click()  # Markdown metadata opens in a dialog
    chart = page.locator("img[src^='data:image/png']")
    expect(chart).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
    width, height = chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 0 and height > 0
    print(f"\n  regime chart: {width}×{height} px")


def test_consensus_signals_shows_its_column_schema(uis, page):
    from playwright.sync_api import expect

    page.goto(f"{uis['dagster']}/assets/consensus_signals")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    schema = page.locator("table", has=page.locator("thead td", has_text=re.compile(r"^Column name$"))).first
    expect(schema).to_be_visible()
    schema.scroll_into_view_if_needed()
    for column in ["symbol", "date", "composite_score", "quality_tier"]:
        expect(schema.locator("tbody td").get_by_text(column, exact=True)).to_be_visible()


def test_price_history_lists_its_checks(uis, page):
    from playwright.sync_api import expect

    from emergent_pipeline.defs.prices.checks import SPECS

    names = sorted(spec.name for spec in SPECS)
    assert len(names) == 6
    page.goto(f"{uis['dagster']}/assets/price_history?view=checks")
    expect(page.get_by_text(f"Checks ({len(names)})")).to_be_visible()
    for name in names:
        # each entry of the list: the check's name, then its latest result
        expect(page.locator(f"[title='{name}'] + span").first).to_have_text(re.compile(r"^(succeeded|failed)$", re.IGNORECASE))


def test_mlflow_model_page_shows_the_champion_alias(uis, page):
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    champion = MlflowClient(tracking_uri=uis["tracking_uri"]).get_model_version_by_alias(MODEL_NAME, CHAMPION).version
    page.goto(f"{uis['mlflow']}/#/models/{MODEL_NAME}")
    expect(page.get_by_text(MODEL_NAME, exact=True).first).to_be_visible()
    # the alias tag in the Aliases column of that version's row (the model's description also names `@champion`)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"Version {champion}", exact=True))
    expect(row).to_be_visible()
    expect(row.locator("span").filter(has_text=re.compile(rf"^@\s*{CHAMPION}$")).first).to_be_visible()


FITS = """(table, hidden) => {
  for (const row of table.querySelectorAll(':scope > tbody > tr')) {
    const key = row.querySelector(':scope > td');
    if (key && hidden.includes(key.innerText.trim())) row.style.display = 'none';
  }
  const limit = table.parentElement.getBoundingClientRect().width;
  return [Math.round(table.getBoundingClientRect().width), Math.round(limit)];
}"""
"""The metadata table's width and its column's (wider, and its right edge is cut), with the rows of
`hidden` keys left out."""
DAGSTER_PATHS = {"signal_model": ["path"], "signal_model_evaluation": ["path"]}
"""Assets whose output Dagster's IO manager pickles, adding its own `path` (as long as DAGSTER_HOME
makes it: a longer temporary folder would fail the check for a reason outside the project)."""


def test_every_asset_page_fits_its_metadata_in_its_column(uis, page, definitions_asset_names):
    """At 1600 px, the Metadata section of each asset's page is no wider than its column: a value
    wider than the column (a preview with many columns, a long link) pushes the whole section out,
    and the right of every value (tables, verdicts) is cut."""
    from playwright.sync_api import expect

    too_wide = {}
    for asset in definitions_asset_names:
        page.goto(f"{uis['dagster']}/assets/{asset}")
        metadata = page.locator("table").filter(has=page.get_by_text("Timestamp", exact=True)).first
        expect(metadata).to_be_visible()
        metadata.scroll_into_view_if_needed()
        width, column = metadata.evaluate(FITS, DAGSTER_PATHS.get(asset, []))
        if width > column + 1:
            too_wide[asset] = f"{width} px in {column} px"
    assert not too_wide, f"metadata wider than its column: {too_wide}"


@pytest.fixture(scope="module")
def definitions_asset_names() -> list[str]:
    from emergent_pipeline.definitions import defs

    return sorted(key.to_user_string() for key in defs().resolve_asset_graph().get_all_asset_keys())
