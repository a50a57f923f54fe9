"""Insert (or replace) the Lesson 09 section of inception_lab/checks.py (targeted edit)."""
import os
import re
from pathlib import Path

path = Path("/work/main/inception_lab/checks.py")
text = path.read_text()
body = Path("/work/team/lessons/checks_09.py").read_text().strip("\n")
marker = "# --- Lesson 09 ---\n"
start = text.index(marker) + len(marker)
nxt = re.search(r"^# --- Lesson \d\d ---$", text[start:], flags=re.M)
end = start + nxt.start() if nxt else len(text)
text = text[:start] + "\n" + body + "\n" + ("\n\n" + text[end:] if nxt else "")
tmp = path.with_suffix(".tmp09")
tmp.write_text(text)
os.replace(tmp, path)
print("ok")
