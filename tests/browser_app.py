"""What the real-browser test and bench/app_latency.py share: the browser, the app command, a story."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
STORY = (
    "Our support tickets kept mentioning the export step, so I interviewed five customers about how they used it.\n"
    "I found the root cause: they exported data every Monday to build a report for their managers.\n"
    "We built a prototype of a scheduled report and tested it with three of those customers before launch.\n"
    "After we shipped it, export tickets dropped by 40% in two months, and I now review customer feedback "
    "with the team every week."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int) -> list[str]:
    """`streamlit run app.py` on 127.0.0.1:port, headless, no file watcher, no usage stats."""
    return [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false"]
