#!/usr/bin/env python3
"""The HTML report (scan --report-html, issue 19) on the golden log with hostile keys.

    check_html.py BINARY            the file parses as HTML: elements nest, the expected sections,
                                    one row per account of the JSON-lines ranking, a timeline per
                                    account at medium or above, hostile keys only as text
    check_html.py BINARY --chromium the same page rendered by headless Chromium: its DOM after the
                                    script ran holds no element made of a key, and a screenshot
                                    is taken (exit 77, skipped, when chromium is not installed)
"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HOSTILE = {
    "key-harvest": "<script>alert(1)</script>",
    "key-retry": '"><img src=x onerror=1>',
}
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source",
        "track", "wbr"}
SVG_EMPTY = {"line", "rect", "circle", "polyline", "path"}


def hostile_log(src, dst):
    with open(src) as f, open(dst, "w") as out:
        for line in f:
            event = json.loads(line)
            key = event.get("api_key_id")
            if key in HOSTILE:
                event["api_key_id"] = HOSTILE[key]
                event["request_id"] = "</code><u>" + event.get("request_id", "")
            out.write(json.dumps(event) + "\n")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.ids, self.tags = [], [], set(), {}
        self.text = []
        self.articles = 0
        self.timelines = 0
        self.rows = 0
        self.in_tbody = False
        self.in_ranking = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "id" in a:
            if a["id"] in self.ids:
                self.errors.append("duplicate id " + a["id"])
            self.ids.add(a["id"])
        for name in a:
            if name.startswith("on"):
                self.errors.append(f"event handler attribute {name} on <{tag}>")
        if tag == "article":
            self.articles += 1
        if tag == "svg" and "timeline" in a.get("class", ""):
            self.timelines += 1
        if tag == "table":
            self.in_ranking = a.get("id") == "ranking-table"
        if tag == "tbody":
            self.in_tbody = True
        if tag == "tr" and self.in_tbody and self.in_ranking:
            self.rows += 1
        if tag not in VOID and not (tag in SVG_EMPTY and self.get_starttag_text().endswith("/>")):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_tbody = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def fail(message):
    print("check_html: " + message, file=sys.stderr)
    sys.exit(1)


def check_structure(page_text, accounts):
    page = Page()
    page.feed(page_text)
    page.close()
    if page.errors:
        fail("; ".join(page.errors[:5]))
    if page.stack:
        fail("unclosed elements: " + " ".join(page.stack))
    for section in ("summary", "ranking", "accounts", "inputs", "span", "by-severity", "caps"):
        if section not in page.ids:
            fail("no element with id " + section)
    if page.tags.get("script") != 1 or page.tags.get("img") or page.tags.get("u"):
        fail(f"elements from the logs: {page.tags}")
    if page.rows != len(accounts):
        fail(f"{page.rows} ranking rows, the JSON-lines ranking has {len(accounts)}")
    detailed = [a for a in accounts if a["rules"] and a["severity"] in ("medium", "high", "critical")]
    if page.articles != len(detailed) or page.timelines != len(detailed):
        fail(f"{page.articles} accounts and {page.timelines} timelines, expected {len(detailed)}")
    text = "".join(page.text)
    for key in HOSTILE.values():
        if key not in text:
            fail("hostile key not shown as text: " + key)
    if "</code><u>" not in text:
        fail("hostile request id not shown as text")


def main():
    binary = sys.argv[1]
    chromium = "--chromium" in sys.argv[2:]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium and not browser:
        print("check_html: chromium is not installed: skipped (apt-get install chromium)")
        sys.exit(77)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "hostile.jsonl")
        hostile_log(os.path.join(root, "tests/cli/golden.jsonl"), log)
        report = os.path.join(tmp, "report.html")
        run = subprocess.run(
            [binary, "scan", "-q", "--format", "jsonl", "--report-html", report,
             "--no-default-rules", "--rules", os.path.join(root, "tests/cli/golden-rules.toml"),
             log], capture_output=True, text=True)
        if run.returncode not in (0, 1):
            fail(f"scan exited {run.returncode}: {run.stderr}")
        accounts = [json.loads(l) for l in run.stdout.splitlines() if '"type":"account"' in l]
        with open(report, encoding="utf-8") as f:
            page_text = f.read()
        check_structure(page_text, accounts)
        if not chromium:
            print(f"check_html: ok ({len(accounts)} accounts)")
            return
        common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--user-data-dir=" + os.path.join(tmp, "profile")]
        url = "file://" + report
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True,
                             timeout=120)
        if dom.returncode != 0 or "</html>" not in dom.stdout:
            fail(f"chromium --dump-dom failed ({dom.returncode}): {dom.stderr[-500:]}")
        check_structure(dom.stdout, accounts)
        # Sorting: a click on "requests" twice orders the rows by requests, most first.
        sorted_page = os.path.join(tmp, "sorted.html")
        with open(sorted_page, "w", encoding="utf-8") as f:
            f.write(page_text.replace("</body>", "<script>var h = document.querySelectorAll("
                                      "'#ranking-table th'); h[5].click(); h[5].click();"
                                      "</script></body>"))
        dom = subprocess.run(common + ["--dump-dom", "file://" + sorted_page],
                             capture_output=True, text=True, timeout=120)
        table = dom.stdout[dom.stdout.find('id="ranking-table"'):]
        counts = [int(v) for v in re.findall(r'<tr data-rank="\d+">(?:<td[^>]*>.*?</td>){5}'
                                             r'<td class="n" data-v="(\d+)"', table)]
        want = sorted((a["requests"] for a in accounts), reverse=True)
        if counts != want:
            fail(f"sorted by requests: {counts}, expected {want}")
        shot = os.path.join(tmp, "report.png")
        subprocess.run(common + ["--screenshot=" + shot, "--window-size=1280,2000", url],
                       capture_output=True, timeout=120)
        with open(shot, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                fail("chromium wrote no screenshot")
        keep = os.environ.get("EXFILSCAN_HTML_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)
            shutil.copy(report, os.path.splitext(keep)[0] + ".html")
        print(f"check_html: ok in chromium ({len(accounts)} accounts)")


if __name__ == "__main__":
    main()
