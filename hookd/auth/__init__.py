"""Endpoint authentication (a hook's `auth:`), in the process that sends.

The config's AuthConfig travels inside the hook's EndpointSpec; build_authenticator makes it live
there (a private key loaded, an OAuth2 client on the process's TokenCache), and HttpSender asks it
for each request's credentials, adds them as the request goes out, asks again once after a 401 when
they are renewable, and drops them on a redirect to another origin. So the credentials never pass
through the daemon, and what is made at run time (tokens, JWTs) is hidden by the sender itself
(RunTimeSecrets) before it returns anything.
"""
