"""Checking a plugin's hook implementations against the hookspecs, before it is registered.

pluggy's own checks report a misspelled hook only in ``check_pending``, for the whole manager
at once and with the plugin's repr, and an argument the hook does not have as a multi-line
message. These say, on one line each, which hook is unknown and which one was meant, or which
argument the hook does not pass and which arguments it does.
"""

from __future__ import annotations

import difflib

import pluggy

from compressor.errors import format_choices


def known_hooks(pm: pluggy.PluginManager) -> dict[str, pluggy.HookCaller]:
    """Hook name -> caller, for every hook that has a spec (the hooks of compressor.hookspecs)."""
    return {
        name: caller
        for name, caller in vars(pm.hook).items()
        if isinstance(caller, pluggy.HookCaller) and caller.has_spec()
    }


def hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with ``plugin``'s ``@hookimpl`` functions, one line each (none: register it).

    Args:
        pm: The manager, hookspecs added.
        plugin: A module, class or object with ``@hookimpl`` functions.

    Example:
        ``["unknown hook 'compressor_before_stages'; did you mean 'compressor_before_stage'?
        valid choices: ..."]``, or ``["compressor_before_stage has no argument 'stag' (did you
        mean 'stage'?); its arguments are stage, context"]``.
    """
    hooks = known_hooks(pm)
    problems = []
    for attribute in dir(plugin):
        options = pm.parse_hookimpl_opts(plugin, attribute)
        if options is None:
            continue
        hook_name = options.get("specname") or attribute
        caller = hooks.get(hook_name)
        if caller is None or caller.spec is None:
            if not options.get("optionalhook"):
                problems.append(f"unknown hook {hook_name!r}; {format_choices(hook_name, hooks)}")
            continue
        implementation = pluggy.HookImpl(plugin, "check", getattr(plugin, attribute), options)
        passed = [*caller.spec.argnames, *caller.spec.kwargnames]
        for argument in implementation.argnames:
            if argument not in passed:
                problems.append(_unknown_argument(hook_name, argument, passed))
    return problems


def _unknown_argument(hook_name: str, argument: str, passed: list[str]) -> str:
    close = difflib.get_close_matches(argument, passed, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    arguments = ", ".join(passed) if passed else "none"
    return f"{hook_name} has no argument {argument!r}{hint}; its arguments are {arguments}"
