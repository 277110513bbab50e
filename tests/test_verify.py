"""The reviewer's check compares the reproducible outputs of dvc.lock, not run stamps."""

from rehabkoord import verify

LOCK = """
schema: '2.0'
stages:
  analyse:
    cmd: papermill ...
    outs:
    - path: reports/metrics.json
      hash: md5
      md5: aaa
    - path: reports/notebooks/04_analyse.ipynb
      hash: md5
      md5: bbb
  report:
    outs:
    - path: reports/bilaga.html
      md5: ccc
    - path: reports/figures
      md5: ddd.dir
"""


def test_lock_hashes_skip_executed_notebooks_and_html():
    assert verify.lock_hashes(LOCK) == {"reports/metrics.json": "aaa", "reports/figures": "ddd.dir"}
