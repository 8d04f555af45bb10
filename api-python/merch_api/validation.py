"""Connexion's parameter validator, with errors a person can act on: Connexion's own says
"0 is less than the minimum of 1" followed by a dump of the JSON schema; this one names
the parameter and leaves the schema out."""

from connexion.validators import ParameterValidator


class NamedParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if error and "\n\nFailed validating" in error:
            return f"{parameter_type} parameter '{param['name']}': {error.split(chr(10))[0]}"
        return error
