#!/usr/bin/env python3
"""A XAPI host plugin for the conformance tests, answering as XenAPIPlugin.dispatch does.

XenAPIPlugin ships with XAPI in dom0, not on PyPI: its protocol is copied here. argv[1] is an
XML-RPC methodCall (function name; params [session_ref, args]); stdout is a methodResponse whose
value is {Status: Success, Value: result} or {Status: Failure, ErrorDescription: [...]}.
"""

import json
import os
import sys
import xmlrpc.client


def success_message(result):
    return xmlrpc.client.dumps(({"Status": "Success", "Value": result},), "", True)


def failure_message(description):
    return xmlrpc.client.dumps(({"Status": "Failure", "ErrorDescription": description},), "", True)


def echo(session, args):
    return json.dumps({
        "session": session,
        "args": args,
        "root": os.environ.get("LINSTOR_AGENT_ROOT"),
        "hostname": open("etc/hostname").read().strip() if os.path.exists("etc/hostname") else None,
    })


def broken(session, args):
    raise ValueError("the plugin broke: " + args.get("why", "no reason"))


def crash(session, args):
    sys.stderr.write("crashing on purpose\n")
    sys.exit(2)


FUNCTIONS = {"echo": echo, "broken": broken, "crash": crash}


def dispatch():
    params, method = xmlrpc.client.loads(sys.argv[1])
    session, args = params[0], params[1]
    try:
        print(success_message(FUNCTIONS[method](session, args)))
    except SystemExit:
        raise
    except Exception as e:  # what XenAPIPlugin.dispatch reports for an unexpected exception
        print(failure_message(["XENAPI_PLUGIN_FAILURE", method, e.__class__.__name__, str(e)]))


if __name__ == "__main__":
    dispatch()
