"""HTTP entrypoints: the guard in front of /v1, the routers, problem and OpenAPI wiring."""
