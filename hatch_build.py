"""Ship the lm-eval autoload .pth at the wheel root and the task configs inside the package."""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PTH = {"hneuron_eval/_autoload.pth": "hneuron_eval-autoload.pth"}


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if version == "editable":
            # editable installs import hneuron_eval (and tasks/) from the checkout itself
            build_data["force_include_editable"].update(PTH)
        else:
            build_data["force_include"].update(PTH)
            build_data["force_include"]["tasks"] = "hneuron_eval/tasks"
