"""Unit tests for plugins/modules/mosquitto_password.py: the hash format, compatibility with mosquitto_passwd,
and the module run as Ansible runs it (arguments file), including idempotence and check mode."""

import base64
import importlib.util
import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "modules" / "mosquitto_password.py"
_SPEC = importlib.util.spec_from_file_location("mosquitto_password", _PATH)
mp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(mp)

# Made by mosquitto_passwd of Debian 12's mosquitto 2.0.11: `mosquitto_passwd -b FILE alice 's3cret pass'`
# and `mosquitto_passwd -b FILE bob 'pässword'`.
MOSQUITTO_PASSWD_LINES = {
    "alice": ("s3cret pass",
              "$7$101$oaz/ByI+K21dgeaV$qjCwNj/WTX99dG9qqLFddRCbwrk0yKwQxJFUoIrAdVaqiPsQS/HCuL51Myn2I3wyGTRjJu0YVFAEuIy3etwCvA=="),
    "bob": ("pässword",
            "$7$101$X17FjArd2FnuAgvr$jIkWoEEm5drntuBMh5Ipj9zl7e2DJqqf68m7TdRTiKMxsNFysvmWPzH4xrwFoa4ir2dGv2eMl0Zk64ct163H5g=="),
}


def test_hash_format():
    value = mp.make_hash("secret", iterations=101, salt=b"0123456789ab")
    kind, iterations, salt, digest = mp.parse_hash(value)
    assert value.startswith("$7$101$")
    assert (kind, iterations, salt, len(digest)) == ("7", 101, b"0123456789ab", 64)
    assert base64.b64decode(value.split("$")[3]) == b"0123456789ab"


def test_hash_is_salted():
    assert mp.make_hash("secret") != mp.make_hash("secret")


@pytest.mark.parametrize("user", sorted(MOSQUITTO_PASSWD_LINES))
def test_hashes_made_by_mosquitto_passwd_verify(user):
    password, value = MOSQUITTO_PASSWD_LINES[user]
    assert mp.verify(password, value)
    assert not mp.verify(password + "x", value)
    assert not mp.needs_rehash(password, value, 101)


def test_mosquitto_1x_sha512_hash_verifies_and_is_upgraded():
    salt = b"saltsaltsalt"
    import hashlib

    value = "$6${0}${1}".format(base64.b64encode(salt).decode(),
                                base64.b64encode(hashlib.sha512(b"old" + salt).digest()).decode())
    assert mp.verify("old", value)
    assert mp.needs_rehash("old", value, 101)


@pytest.mark.parametrize("value", ["", "plain", "$7$x$y$z", "$7$101$!!$!!", "$5$a$b"])
def test_garbage_never_verifies(value):
    assert not mp.verify("anything", value)


def test_update_lines_adds_keeps_updates_removes():
    lines = ["# comment", "alice:" + mp.make_hash("a"), "bob:" + mp.make_hash("b")]
    out, what = mp.update_lines(lines, "carol", "c", "present", 101)
    assert what == "added" and out[:3] == lines and out[3].startswith("carol:$7$101$")
    out2, what = mp.update_lines(out, "carol", "c", "present", 101)
    assert what == "unchanged" and out2 == out
    out3, what = mp.update_lines(out, "alice", "new", "present", 101)
    assert what == "updated" and out3[1] != out[1] and mp.verify("new", out3[1].split(":", 1)[1])
    out4, what = mp.update_lines(out, "bob", None, "absent", 101)
    assert what == "removed" and not any(line.startswith("bob:") for line in out4)
    out5, what = mp.update_lines(out, "nobody", None, "absent", 101)
    assert what == "unchanged" and out5 == out


def test_update_lines_rehashes_on_other_iterations():
    lines = ["alice:" + mp.make_hash("a", iterations=101)]
    out, what = mp.update_lines(lines, "alice", "a", "present", 1000)
    assert what == "updated" and out[0].startswith("alice:$7$1000$")


def run_module(tmp_path, **args):
    """Run the module file the way Ansible does, with an arguments file; return its JSON result."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, str(_PATH), str(args_file)], capture_output=True, text=True, check=False)
    result = json.loads(proc.stdout)
    return result


def test_module_end_to_end(tmp_path):
    path = tmp_path / "passwd"
    r = run_module(tmp_path, path=str(path), name="alice", password="s3cret")
    assert r["changed"] and r["user_changed"] == "added", r
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    assert mp.verify("s3cret", first.strip().split(":", 1)[1])
    assert "s3cret" not in json.dumps(r)

    r = run_module(tmp_path, path=str(path), name="alice", password="s3cret")
    assert not r["changed"] and r["user_changed"] == "unchanged", r
    assert path.read_text() == first  # not rehashed

    r = run_module(tmp_path, path=str(path), name="alice", password="other", _ansible_check_mode=True)
    assert r["changed"] and r["user_changed"] == "updated", r
    assert path.read_text() == first  # check mode writes nothing

    r = run_module(tmp_path, path=str(path), name="alice", password="other", mode="0640")
    assert r["changed"], r
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert mp.verify("other", path.read_text().strip().split(":", 1)[1])

    r = run_module(tmp_path, path=str(path), name="alice", state="absent")
    assert r["changed"] and r["user_changed"] == "removed" and path.read_text() == ""


@pytest.mark.parametrize("args, message", [
    ({"name": "a:b", "password": "long-secret"}, "no ':'"),
    ({"name": "alice"}, "password"),
    ({"name": "alice", "password": "long-secret", "create": False}, "does not exist"),
])
def test_module_refuses_bad_input(tmp_path, args, message):
    r = run_module(tmp_path, path=str(tmp_path / "missing"), **args)
    assert r.get("failed"), r
    assert message in r["msg"]


def test_update_users_one_pass():
    lines = ["# comment", "alice:" + mp.make_hash("a"), "old:" + mp.make_hash("o"), "bob:" + mp.make_hash("b")]
    out, what = mp.update_users(lines, [("alice", "a"), ("bob", "new"), ("carol", "c")], False, 101)
    assert what == {"alice": "unchanged", "bob": "updated", "carol": "added"}
    assert out[:3] == lines[:3] and mp.verify("new", out[3].split(":", 1)[1]) and out[4].startswith("carol:$7$101$")
    out2, what = mp.update_users(out, [("alice", "a"), ("bob", "new"), ("carol", "c")], True, 101)
    assert what == {"alice": "unchanged", "bob": "unchanged", "carol": "unchanged", "old": "removed"}
    assert out2 == [line for line in out if not line.startswith("old:")]
    out3, what = mp.update_users(out2, [("alice", "a"), ("bob", "new"), ("carol", "c")], True, 101)
    assert out3 == out2 and set(what.values()) == {"unchanged"}


def test_update_users_drops_duplicates_and_empty_list():
    lines = ["alice:" + mp.make_hash("a"), "alice:" + mp.make_hash("x")]
    out, what = mp.update_users(lines, [("alice", "a")], False, 101)
    assert what == {"alice": "updated"} and out == lines[:1]
    out, what = mp.update_users(lines, [], True, 101)
    assert out == [] and what == {"alice": "removed"}
    out, what = mp.update_users(lines, [], False, 101)
    assert out == lines and what == {}


def test_module_users_end_to_end(tmp_path):
    path = tmp_path / "passwd"
    path.write_text("# kept\nold:" + mp.make_hash("o") + "\n")
    users = [{"name": "alice", "password": "s3cret-a"}, {"name": "bob", "password": "s3cret-b"}]
    r = run_module(tmp_path, path=str(path), users=users, exclusive=True, _ansible_check_mode=True)
    assert r["changed"] and r["users_changed"] == {"alice": "added", "bob": "added", "old": "removed"}, r
    assert "old:" in path.read_text()  # check mode writes nothing

    r = run_module(tmp_path, path=str(path), users=users, exclusive=True)
    assert r["changed"] and r["users_changed"] == {"alice": "added", "bob": "added", "old": "removed"}, r
    assert "s3cret" not in json.dumps(r)
    lines = path.read_text().splitlines()
    assert lines[0] == "# kept" and [line.split(":")[0] for line in lines[1:]] == ["alice", "bob"]
    assert mp.verify("s3cret-b", lines[2].split(":", 1)[1])
    first = path.read_text()

    r = run_module(tmp_path, path=str(path), users=users, exclusive=True)
    assert not r["changed"] and set(r["users_changed"].values()) == {"unchanged"}, r
    assert path.read_text() == first  # not rehashed

    r = run_module(tmp_path, path=str(path), users=users[:1])
    assert not r["changed"] and r["users_changed"] == {"alice": "unchanged"}, r  # bob kept without exclusive


def test_module_users_creates_empty_file(tmp_path):
    path = tmp_path / "passwd"
    r = run_module(tmp_path, path=str(path), users=[], exclusive=True)
    assert r["changed"] and r["users_changed"] == {}, r
    assert path.read_text() == "" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    r = run_module(tmp_path, path=str(path), users=[], exclusive=True)
    assert not r["changed"], r


@pytest.mark.parametrize("args, message", [
    ({"users": [{"name": "a:b", "password": "long-secret"}]}, "no ':'"),
    ({"users": [{"name": "a", "password": "x"}, {"name": "a", "password": "y"}]}, "more than once"),
    ({"users": [{"name": "a"}]}, "password"),
    ({"users": [], "state": "absent"}, "state=present only"),
    ({"users": [], "name": "a", "password": "long-secret"}, "mutually exclusive"),
    ({}, "one of the following"),
])
def test_module_users_refuses_bad_input(tmp_path, args, message):
    r = run_module(tmp_path, path=str(tmp_path / "missing"), **args)
    assert r.get("failed"), r
    assert message in r["msg"]
    assert "long-secret" not in json.dumps(r)


def test_module_users_take_username(tmp_path):
    path = tmp_path / "passwd"
    r = run_module(tmp_path, path=str(path), users=[{"username": "alice", "password": "s3cret-a"}])
    assert r["changed"] and r["users_changed"] == {"alice": "added"}, r
