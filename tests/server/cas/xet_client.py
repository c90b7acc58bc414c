"""Drive the real hf_xet client in its own process (its own HF_HOME): read a JSON job on stdin,
print a JSON result. Jobs: {"op": "upload", "paths": [...]} -> [{hash, size, sha256}], and
{"op": "download", "items": [{hash, size, start, end, out}]} (each range written to ``out``)."""

from __future__ import annotations

import json
import sys
import time

import hf_xet


def main() -> None:
    job = json.load(sys.stdin)
    session = hf_xet.XetSession()
    auth = {"endpoint": job["endpoint"], "token": "test-token", "token_expiry_unix_secs": int(time.time()) + 3600}
    if job["op"] == "upload":
        with session.new_upload_commit(**auth) as commit:
            handles = [commit.start_upload_file(p) for p in job["paths"]]
        infos = [h.result().xet_info for h in handles]
        print(json.dumps([{"hash": i.hash, "size": i.file_size, "sha256": i.sha256} for i in infos]))
    else:
        group = session.new_download_stream_group(**auth)
        for item in job["items"]:
            info = hf_xet.XetFileInfo(item["hash"], item["size"])
            with open(item["out"], "wb") as f:
                for part in group.download_stream(info, start=item.get("start"), end=item.get("end")):
                    f.write(part)
        print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
