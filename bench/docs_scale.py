"""``runner docs`` at scale (not a test): `python bench/docs_scale.py [--size 1000]`.

Generates ``bench/scale.py``'s project of N models (sources seeded into its DuckDB target),
then measures: the DAG layout alone (``runner.graph.layout``), ``runner docs`` cold and warm
(a child process, compile cache cold then warm), the site's size, and in headless Chromium
(Debian's ``chromium``/``chromium-driver`` with selenium) the time until the page is ready, a
click on a node (model page and upstream/downstream highlight) and a search. Prints the figures;
nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale import generate, seed, write_projects  # noqa: E402

from runner.graph.layout import layout  # noqa: E402
from runner.project.loader import load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = Path("/tmp/runner-docs-scale")


def runner_docs(project: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from runner.cli.main import main; "
                    "sys.exit(main(sys.argv[1:]))", "docs", "--project-dir", str(project)],
                   check=True, stdout=subprocess.DEVNULL, env={"PYTHONPATH": str(ROOT),
                                                               "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - started


def in_browser(page: Path, model: str) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        figures = {}
        started = time.perf_counter()
        driver.get(page.as_uri())
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.body.dataset.ready") == "true")
        figures["page ready (s)"] = time.perf_counter() - started
        figures["nodes drawn"] = len(driver.find_elements(By.CSS_SELECTOR, "g.node.model"))
        started = time.perf_counter()
        driver.execute_script(f"location.hash = '#model/{model}'")
        WebDriverWait(driver, 30).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#panel h2").text == model)
        figures["click to model page + highlight (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        box = driver.find_element(By.ID, "search")
        box.send_keys("feat_01")
        figures["search matches"] = len(driver.find_elements(By.CSS_SELECTOR, "g.node.match"))
        figures["search (s)"] = time.perf_counter() - started
        figures["console errors"] = len([e for e in driver.get_log("browser")
                                         if e["level"] == "SEVERE"])
        driver.save_screenshot(str(WORK / "docs-1000.png"))
        return figures
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    size = parser.parse_args().size
    shutil.rmtree(WORK, ignore_errors=True)
    project, _ = write_projects(generate(size), WORK)
    seed(Path(sys.executable), project / "target" / "local.duckdb")
    dag = load(project).dag
    started = time.perf_counter()
    box = layout(dag)
    print(f"layout: {len(dag.nodes)} nodes, {len(dag.edges())} edges in "
          f"{time.perf_counter() - started:.3f} s ({box.width:.0f} x {box.height:.0f} px)")
    print(f"runner docs, cold: {runner_docs(project):.2f} s")
    print(f"runner docs, warm: {runner_docs(project):.2f} s")
    site = project / "target" / "docs"
    print(f"site: {sum(p.stat().st_size for p in site.iterdir()) / 1e6:.2f} MB")
    middle = sorted(n for n in dag.nodes if n.startswith("feat_"))[len(dag.nodes) // 4]
    for name, value in in_browser(site / "index.html", middle).items():
        print(f"browser, {name}: {value:.2f}" if isinstance(value, float) else
              f"browser, {name}: {value}")
    print(f"screenshot: {WORK / 'docs-1000.png'}")


if __name__ == "__main__":
    main()
