"""Helpers for tests that start a server process."""

import subprocess


def stop(process: subprocess.Popen, timeout: float) -> None:
    """Terminate a process, killing it when it does not exit within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
