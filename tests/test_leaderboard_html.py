"""The HTML leaderboard: escaped, deterministic, offline; sorting and filtering work in a real headless Chromium."""

import pytest
from selenium.webdriver.common.by import By

from hneuron_eval.report.html import render_html

COLUMNS = [
    {"key": "model", "label": "Model", "type": "text"},
    {"key": "score", "label": "Score", "type": "number", "title": "higher is better"},
    {"key": "delta", "label": "Δ", "type": "number"},
]
ROWS = [
    {"model": "alpha", "score": 0.5, "delta": {"text": "+0.10 ↑", "sort": 0.1, "class": "sig-up"}},
    {"model": "beta <b>&", "score": None, "delta": {"text": "-0.20 ↓", "sort": -0.2, "class": "sig-down"}},
    {"model": "gamma", "score": 10, "delta": "0.00"},
    {"model": "delta", "score": 9.25},
    {"model": "epsilon", "score": -1, "delta": {"text": "?", "sort": None}},
    {"model": "zeta", "score": None, "delta": 0.3},
]


def page(**kwargs) -> str:
    return render_html("Leaderboard", COLUMNS, ROWS, **kwargs)


def test_data_is_escaped():
    html = render_html(
        'A <script> & "b"',
        [{"key": "k<", "label": "<i>L</i>", "type": "text", "title": '"t" & <t>'}],
        [{"k<": "<script>alert(1)</script> & co"}],
        intro="<b>intro</b> & more",
        plots=[{"src": 'plots/a "b".png', "caption": "<c> & d"}],
    )
    assert html.count("<script") == 1 and html.count("</script>") == 1  # only the page's own script
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</td>" in html
    assert 'data-sort="&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"' in html
    assert "<title>A &lt;script&gt; &amp; &quot;b&quot;</title>" in html
    assert '<th data-key="k&lt;" data-type="text" title="&quot;t&quot; &amp; &lt;t&gt;"' in html
    assert "&lt;i&gt;L&lt;/i&gt;" in html and "<p>&lt;b&gt;intro&lt;/b&gt; &amp; more</p>" in html
    assert '<img src="plots/a &quot;b&quot;.png" alt="&lt;c&gt; &amp; d">' in html


def test_same_inputs_give_the_same_bytes():
    assert page(intro="x", plots=[{"src": "p.png", "caption": "c"}]) == page(
        intro="x", plots=[{"src": "p.png", "caption": "c"}]
    )


def test_none_and_missing_cells_are_na_and_sort_last():
    html = page()
    assert '<td data-key="score" data-sort="" class="num na">n/a</td>' in html  # None
    assert '<td data-key="delta" data-sort="" class="num na">n/a</td>' in html  # key missing from the row
    assert '<td data-key="delta" data-sort="" class="num">?</td>' in html  # explicit "sort": None


def test_sort_keys():
    html = page()
    assert '<td data-key="score" data-sort="10.0" class="num">10</td>' in html
    assert '<td data-key="delta" data-sort="0.1" class="num sig-up">+0.10 ↑</td>' in html
    assert '<td data-key="delta" data-sort="0.0" class="num">0.00</td>' in html  # number text parsed
    assert '<td data-key="model" data-sort="alpha">alpha</td>' in html
    assert '<p id="count" aria-live="polite">6 of 6 rows</p>' in html


def test_no_network_references():
    html = page(plots=[{"src": "plots/a.png", "caption": "a"}])
    assert "http://" not in html and "https://" not in html
    assert 'src="http' not in html and 'href="http' not in html
    for src in ("https://example.org/a.png", "//example.org/a.png"):
        with pytest.raises(ValueError, match="relative path"):
            page(plots=[{"src": src, "caption": "a"}])


def test_unknown_column_type_is_an_error():
    with pytest.raises(ValueError, match="'text' or 'number'"):
        render_html("t", [{"key": "k", "label": "K", "type": "numeric"}], [])


def visible_rows(driver) -> list[tuple[str, str]]:
    """(model, score) as shown, for each row the browser displays, top to bottom."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    return [tuple(td.text for td in row.find_elements(By.CSS_SELECTOR, "td")[:2]) for row in rows if row.is_displayed()]


@pytest.mark.browser
def test_sort_and_filter_in_chromium(browser, tmp_path):
    path = tmp_path / "leaderboard.html"
    path.write_text(page(), encoding="utf-8")
    browser.get(path.as_uri())
    assert visible_rows(browser) == [
        ("alpha", "0.5"), ("beta <b>&", "n/a"), ("gamma", "10"), ("delta", "9.25"), ("epsilon", "-1"), ("zeta", "n/a")
    ]
    browser.find_element(By.CSS_SELECTOR, '#leaderboard th[data-key="model"]').click()
    assert [model for model, _ in visible_rows(browser)] == ["alpha", "beta <b>&", "delta", "epsilon", "gamma", "zeta"]
    header = browser.find_element(By.CSS_SELECTOR, '#leaderboard th[data-key="score"]')
    arrow = "return getComputedStyle(arguments[0].querySelector('button'), '::after').content"

    header.click()
    assert [score for _, score in visible_rows(browser)] == ["-1", "0.5", "9.25", "10", "n/a", "n/a"]
    assert header.get_attribute("aria-sort") == "ascending" and "▲" in browser.execute_script(arrow, header)

    header.click()
    assert visible_rows(browser) == [
        ("gamma", "10"), ("delta", "9.25"), ("alpha", "0.5"), ("epsilon", "-1"), ("beta <b>&", "n/a"), ("zeta", "n/a")
    ]
    assert header.get_attribute("aria-sort") == "descending" and "▼" in browser.execute_script(arrow, header)

    filter_box, count = browser.find_element(By.ID, "filter"), browser.find_element(By.ID, "count")
    assert count.text == "6 of 6 rows"
    filter_box.send_keys("ETA")
    assert visible_rows(browser) == [("beta <b>&", "n/a"), ("zeta", "n/a")]
    assert count.text == "2 of 6 rows"
    filter_box.send_keys(" <")
    assert visible_rows(browser) == [("beta <b>&", "n/a")] and count.text == "1 of 6 rows"
    filter_box.clear()
    filter_box.send_keys("↑")  # matches the text of another column
    assert visible_rows(browser) == [("alpha", "0.5")] and count.text == "1 of 6 rows"
