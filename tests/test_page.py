"""catalog page: the generated page, opened from file:// in a real Chromium, gives what mambaenv resolve gives: upstream's
wheels, Astral's third-party builds, and "build" where nothing prebuilt fits."""
import json
import random
import shutil

import pytest

from mambaenv import page
from tests.conftest import run_cli

COMBINATIONS = 50
SEED = 20  # the combinations are drawn at random, the same ones every run
# ... plus one answer of each origin, whatever the draw holds: Astral's build for torch 2.11 (upstream built none),
# a build for today's torch 2.15, and the user story's torch 2.0 upstream wheel
EACH_ORIGIN = (page.Combo("2.11", "13.0", "3.12", True, "x86_64", None), page.Combo("2.15", "13.2", "3.15", True, "x86_64", "9.0"),
               page.Combo("2.0", "11.8", "3.8", False, "x86_64", None))
# offline answers name Astral's own index (nothing is asked of it), on the page and from resolve alike
THEIRS = {"MAMBAENV_ASTRAL_INDEX": ""}
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--window-size=1280,1500")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    env = dict(THEIRS, MAMBAENV_CACHE_DIR=str(tmp_path_factory.mktemp("cache")))  # module-wide: conftest's per-test cache is not set yet
    out = run_cli("catalog", "page", "--offline", "-o", str(folder), "--json", env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    return folder, json.loads(out.stdout)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for every check (Debian's chromium and chromium-driver; nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [b for b in ("chromium", "chromedriver") if not shutil.which(b)]
    assert not missing, f"{missing} not installed: run make system-deps (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    yield driver
    driver.quit()


def choose(driver, combo: page.Combo) -> None:
    """Make the choices a person makes: each selector in turn (torch first: it decides which CUDA builds are offered)."""
    from selenium.webdriver.support.ui import Select

    picks = {"package": "all", "torch": combo.torch, "cuda": combo.cuda, "python": combo.python, "abi": str(combo.cxx11abi).lower(),
             "machine": combo.machine, "gpu": combo.gpu or "null"}
    for element_id, value in picks.items():
        Select(driver.find_element("id", element_id)).select_by_value(value)


def shown(driver, package: str) -> dict:
    from selenium.webdriver.common.by import By

    card = driver.find_element(By.CSS_SELECTOR, f'[data-answer="{package}"]')
    text = lambda cls: card.find_element(By.CSS_SELECTOR, f"dd.{cls}").text  # noqa: E731
    value = lambda cls: card.find_element(By.CSS_SELECTOR, f"dd.{cls}").get_attribute("data-value") or None  # noqa: E731
    none = lambda t: None if t == "—" else t  # noqa: E731
    return {"origin": value("origin"), "file": none(text("file")), "url": none(text("url")), "sha256": value("sha256"),
            "source": value("source"), "tag": none(text("tag")), "reason": text("reason")}


def drawn(seed: int, n: int) -> list[page.Combo]:
    everything = list(page.combos())
    return random.Random(seed).sample(everything, n)


@pytest.mark.slow
def test_the_page_from_file_answers_as_resolve_does_for_random_choices(site, browser):
    folder, made = site
    assert made["combinations"] == len(list(page.combos())) and set(made["files"]) == {"index.html", "answers.json"}
    browser.get((folder / "index.html").as_uri())
    checked, origins = 0, set()
    for combo in drawn(SEED, COMBINATIONS) + list(EACH_ORIGIN):
        choose(browser, combo)
        out = run_cli("resolve", "--offline", "--json", *combo.resolve_args(), env=THEIRS)
        assert out.returncode in (0, 1), out.stderr
        for want in json.loads(out.stdout)["packages"]:
            got = shown(browser, want["package"])
            assert got == {k: want[k] for k in got}, (combo, want["package"])
            origins.add(want["origin"])
            checked += 1
        selected = browser.find_elements("css selector", "table.matrix td.sel")
        assert len(selected) == 2, combo  # the matrix marks the chosen torch/CUDA cell in each package's table
    assert checked == 2 * (COMBINATIONS + len(EACH_ORIGIN)) and origins == {"upstream", "astral", "build"}
    # self-contained: the page fetched nothing (no script, style or data from anywhere)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


@pytest.mark.slow
def test_a_matrix_cell_picks_that_torch_and_cuda(site, browser):
    folder, _ = site
    browser.get((folder / "index.html").as_uri() + "#package=mamba_ssm&torch=2.10&cuda=13.0&python=3.10&abi=true&machine=x86_64&gpu=null")
    third = browser.find_element("xpath", "//table[@data-package='mamba_ssm']//tr[th='torch 2.11']/td[10]")  # cu 13.0: Astral's
    assert "third" in third.get_attribute("class") and third.text.endswith("3rd")
    cell = "//table[@data-package='mamba_ssm']//tr[th='torch 2.0']/td[4]"  # the cu 11.8 column
    browser.find_element("xpath", cell).click()
    assert browser.find_element("id", "torch").get_attribute("value") == "2.0"
    assert browser.find_element("id", "cuda").get_attribute("value") == "11.8"
    want = json.loads(run_cli("resolve", "--offline", "--json", "--package", "mamba_ssm", "--python", "3.10", "--torch", "2.0",
                              "--torch-cuda", "11.8", "--cxx11abi", "true", env=THEIRS).stdout)["packages"][0]
    assert shown(browser, "mamba_ssm")["reason"] == want["reason"] and "sel" in browser.find_element("xpath", cell).get_attribute("class")
    assert "#package=mamba_ssm&torch=2.0&cuda=11.8" in browser.current_url  # the choice can be shared as a link


@pytest.mark.slow
def test_answers_json_is_the_page_data_and_decodes_to_resolve_fields(site):
    folder, _ = site
    data = json.loads((folder / "answers.json").read_text())
    combos = list(page.combos())
    assert len(data["table"]) == len(combos) * len(data["packages"])
    i = combos.index(page.Combo("2.6", "12.6", "3.11", True, "x86_64", None))
    catalog_answer = [page.decode(data, data["table"][i * 2 + k]) for k in range(2)]
    want = json.loads(run_cli("resolve", "--offline", "--json", *combos[i].resolve_args(), env=THEIRS).stdout)["packages"]
    assert catalog_answer == [{k: w[k] for k in page.ANSWER_KEYS} for w in want]
    assert (folder / "index.html").stat().st_size < 1_000_000  # the whole catalog in one file a person can mail
