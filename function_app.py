"""Azure Functions entry point (Python v2 programming model): registers the functions, nothing else.

Every app setting is parsed and checked here, at import, before anything connects: a missing or malformed
setting stops the host at startup with a message naming it (in Azure, in the function app's log). The
runtime that connects to storage, SQL and the vision services is built on first use.
"""

import os

import azure.functions as func

from pipeline.api.routes import operator_api, people_api, query_api
from pipeline.functions import pipeline_functions
from pipeline.runtime import LazyRuntime
from pipeline.settings import Settings
from steps import REGISTERED_STEPS, STEPS_BY_NAME
from steps.facematch import Facematch

runtime = LazyRuntime(Settings.from_environment(os.environ, STEPS_BY_NAME), STEPS_BY_NAME)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(pipeline_functions(runtime, REGISTERED_STEPS, match_step=Facematch.name))
app.register_functions(query_api(runtime))
app.register_functions(operator_api(runtime))
app.register_functions(people_api(runtime))
