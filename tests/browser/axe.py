"""axe-core (bundled by axe-playwright-python, loaded from the package: no CDN) on a page open in Chromium."""

from axe_playwright_python.sync_playwright import Axe

VIEWPORT = {"width": 1280, "height": 800}
BLOCKING = frozenset({"serious", "critical"})


def serious_violations(page) -> list[str]:
    """The page's serious and critical accessibility violations, each with the rule, its help and where."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:5]} on {page.url}"
        for v in found
        if v["impact"] in BLOCKING
    ]
