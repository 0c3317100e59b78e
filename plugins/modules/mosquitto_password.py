#!/usr/bin/python
# Copyright: mosquitto-ha maintainers
# MIT License (see LICENSE)
"""Manage users in a mosquitto password file, hashed the way mosquitto 2.0 does, without mosquitto_passwd."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mosquitto_password
short_description: Manage users in a Mosquitto password file
version_added: 0.1.0
description:
  - Adds, updates or removes one user (O(name)), or writes a list of users in one pass (O(users)), in a Mosquitto
    C(password_file).
  - Passwords are hashed in Python on the target host in Mosquitto 2.0's format, C($7$<iterations>$<salt>$<hash>)
    (PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte key), so C(mosquitto_passwd) is not needed.
  - Idempotent - an existing hash is verified against O(password) and only rewritten when the password
    differs, the hash is of another format (for example Mosquitto 1.x C($6$)), or its iteration count is not
    O(iterations). Other lines of the file are kept as they are, in order.
options:
  path:
    description: Password file.
    type: path
    required: true
  name:
    description:
      - User name (no C(:) and no line breaks).
      - One of O(name) and O(users) is required; they are mutually exclusive.
    type: str
    aliases: [user]
  password:
    description: The password of O(name). Required with O(name) and O(state=present).
    type: str
  state:
    description:
      - Whether O(name) is in the file.
      - With O(users), only V(present) is allowed (use O(exclusive) to remove the users not listed).
    type: str
    choices: [present, absent]
    default: present
  users:
    description:
      - The users to have in the file, all written in one pass (the file is read and written once).
      - One of O(name) and O(users) is required; they are mutually exclusive.
    type: list
    elements: dict
    suboptions:
      name:
        description: User name (no C(:) and no line breaks). Each name once.
        type: str
        required: true
        aliases: [user, username]
      password:
        description: The user's password.
        type: str
        required: true
  exclusive:
    description:
      - With O(users), remove the users of the file that are not in O(users). Other lines (comments) are kept.
    type: bool
    default: false
  iterations:
    description: PBKDF2 iterations of new hashes (Mosquitto's default is 101).
    type: int
    default: 101
  create:
    description: Create the file when it does not exist.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change, without writing it.
  diff_mode:
    support: none
    description: No diff is shown (the file holds password hashes).
notes:
  - The password is never logged or returned.
  - Mosquitto reads the password file at start and on SIGHUP; notify a reload after a change.
author:
  - mosquitto-ha maintainers (@mosquitto-ha)
"""

EXAMPLES = r"""
- name: Have exactly these users in the file (one task, one write)
  mosquitto_ha.cluster.mosquitto_password:
    path: /etc/mosquitto/passwd
    users:
      - name: sensor-1
        password: "{{ vault_sensor_1_password }}"
      - name: dashboard
        password: "{{ vault_dashboard_password }}"
    exclusive: true
    owner: mosquitto
    group: mosquitto
    mode: "0600"
  no_log: true

- name: Add a user
  mosquitto_ha.cluster.mosquitto_password:
    path: /etc/mosquitto/passwd
    name: sensor-1
    password: "{{ vault_sensor_1_password }}"
    owner: mosquitto
    group: mosquitto
    mode: "0600"
  no_log: true

- name: Remove a user
  mosquitto_ha.cluster.mosquitto_password:
    path: /etc/mosquitto/passwd
    name: old-client
    state: absent
"""

RETURN = r"""
user_changed:
  description: What happened to the line of O(name) - C(added), C(updated), C(removed) or C(unchanged).
  returned: with O(name)
  type: str
  sample: added
users_changed:
  description:
    - With O(users), what happened to each user's line - C(added), C(updated), C(removed) or C(unchanged).
    - Users removed by O(exclusive) are listed as C(removed).
  returned: with O(users)
  type: dict
  sample: {"sensor-1": "unchanged", "dashboard": "added", "old-client": "removed"}
"""

import base64
import hashlib
import hmac
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

SALT_LEN = 12
KEY_LEN = 64
DEFAULT_ITERATIONS = 101


def make_hash(password, iterations=DEFAULT_ITERATIONS, salt=None):
    """A mosquitto 2.0 password hash: $7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>."""
    salt = os.urandom(SALT_LEN) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, KEY_LEN)
    return "$7${0}${1}${2}".format(iterations, base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def parse_hash(value):
    """Return (kind, iterations, salt, digest) for a $7$ or $6$ hash, or None when it is not one."""
    parts = value.split("$")
    try:
        if len(parts) == 5 and parts[0] == "" and parts[1] == "7":
            return "7", int(parts[2]), base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
        if len(parts) == 4 and parts[0] == "" and parts[1] == "6":
            return "6", None, base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
    except (ValueError, TypeError):
        return None
    return None


def verify(password, value):
    """True when ``value`` (a $7$ or mosquitto 1.x $6$ hash) is a hash of ``password``."""
    parsed = parse_hash(value)
    if parsed is None:
        return False
    kind, iterations, salt, digest = parsed
    if kind == "7":
        candidate = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, len(digest))
    else:
        candidate = hashlib.sha512(password.encode("utf-8") + salt).digest()
    return hmac.compare_digest(candidate, digest)


def needs_rehash(password, value, iterations):
    parsed = parse_hash(value)
    return parsed is None or parsed[0] != "7" or parsed[1] != iterations or not verify(password, value)


def update_lines(lines, name, password, state, iterations):
    """Return (new lines, what happened). ``lines`` are the file's lines without line ends."""
    out, found, what = [], False, "unchanged"
    for line in lines:
        user, sep, value = line.partition(":")
        if sep and user == name:
            if found:  # a duplicate entry: mosquitto would use one of them; keep the first
                what = "updated"
                continue
            found = True
            if state == "absent":
                what = "removed"
                continue
            if needs_rehash(password, value, iterations):
                line = "{0}:{1}".format(name, make_hash(password, iterations))
                what = "updated"
        out.append(line)
    if not found and state == "present":
        out.append("{0}:{1}".format(name, make_hash(password, iterations)))
        what = "added"
    return out, what


def update_users(lines, users, exclusive, iterations):
    """Return (new lines, {name: what happened}) for ``users`` (a list of (name, password)), in one pass.

    Lines of users not in ``users`` are kept, or removed with ``exclusive``; lines without ``:`` are kept.
    """
    wanted = dict(users)
    out, seen, what = [], set(), {}
    for line in lines:
        user, sep, value = line.partition(":")
        if not sep:
            out.append(line)
            continue
        if user in wanted:
            if user in seen:  # a duplicate entry: keep the first
                what[user] = "updated"
                continue
            seen.add(user)
            what.setdefault(user, "unchanged")
            if needs_rehash(wanted[user], value, iterations):
                line = "{0}:{1}".format(user, make_hash(wanted[user], iterations))
                what[user] = "updated"
        elif exclusive:
            what[user] = "removed"
            continue
        out.append(line)
    for user, password in users:
        if user not in seen:
            out.append("{0}:{1}".format(user, make_hash(password, iterations)))
            what[user] = "added"
    return out, what


def valid_name(name):
    return bool(name) and ":" not in name and "\n" not in name and "\r" not in name


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str", aliases=["user"]),
            password=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            users=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True, aliases=["user", "username"]),
                    password=dict(type="str", required=True, no_log=True),
                ),
            ),
            exclusive=dict(type="bool", default=False),
            iterations=dict(type="int", default=DEFAULT_ITERATIONS),
            create=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("name", "users")],
        required_one_of=[("name", "users")],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path, name, state = module.params["path"], module.params["name"], module.params["state"]
    users = module.params["users"]
    iterations = module.params["iterations"]
    if users is None:
        if not valid_name(name):
            module.fail_json(msg="name must be non-empty and hold no ':' or line break")
        if state == "present" and module.params["password"] is None:
            module.fail_json(msg="state is present but all of the following are missing: password")
    else:
        if state != "present":
            module.fail_json(msg="users takes state=present only; use exclusive to remove the users not listed")
        names = [user["name"] for user in users]
        if not all(valid_name(user) for user in names):
            module.fail_json(msg="every name in users must be non-empty and hold no ':' or line break")
        if len(set(names)) != len(names):
            module.fail_json(msg="a name is listed more than once in users")
    if iterations < 1:
        module.fail_json(msg="iterations must be at least 1")

    exists = os.path.exists(path)
    if not exists and state == "present" and not module.params["create"]:
        module.fail_json(msg="{0} does not exist and create is false".format(path))
    lines = []
    if exists:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    if users is None:
        new_lines, what = update_lines(lines, name, module.params["password"], state, iterations)
        changed = what != "unchanged"
        result = dict(user_changed=what)
    else:
        new_lines, what = update_users(lines, [(user["name"], user["password"]) for user in users],
                                       module.params["exclusive"], iterations)
        # A missing file is created, even for an empty list: the caller relies on it being there.
        changed = not exists or any(value != "unchanged" for value in what.values())
        result = dict(users_changed=what)

    if changed and not module.check_mode:
        content = "".join(line + "\n" for line in new_lines)
        if not exists:
            # A new file is private from its first byte (mode 0600 unless `mode` says otherwise below).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
        else:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".mosquitto_password.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(content)
                module.atomic_move(tmp, path, unsafe_writes=module.params["unsafe_writes"])
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
