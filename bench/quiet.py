#!/usr/bin/env python3
"""The quiet hook's load for bench/soak.sh: PER_S signed deliveries a second to one path over one
kept-alive connection, a line appended to COUNT_FILE for each answered 202. One long-lived
process, so the load's own cost stays out of the latency the soak measures (a curl started per
delivery took a core for milliseconds twice a second).

Usage: quiet.py URL PER_S SIGNATURE BODY_FILE COUNT_FILE HUB_PID   (runs until killed, or the
hub is gone)
"""
import http.client
import os
import sys
import time
import urllib.parse


def main():
    url, per_s, signature, body_file, count_file, hub_pid = sys.argv[1:7]
    target = urllib.parse.urlsplit(url)
    pause = 1 / float(per_s)
    with open(body_file, "rb") as f:
        body = f.read()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": signature,
    }
    connection = None
    next_at = time.monotonic()
    with open(count_file, "a") as count:
        while hub_alive(int(hub_pid)):
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                connection.request("POST", target.path, body, headers)
                answer = connection.getresponse()
                answer.read()
                if answer.status == 202:
                    count.write("\n")
                    count.flush()
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
            next_at += pause
            time.sleep(max(0.0, next_at - time.monotonic()))


def hub_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    main()
