"""What `build` and `push` share, one module per concern.

- `options`: the command-line options both commands declare (light: no boto3, no pydantic);
- `requests`: the validated requests and the protected-tag policy;
- `registry`: where images go, and the ECR checks before a push;
- `report`: what was built or pushed, as a table, JSON and GitHub Actions outputs;
- `publish`: logging in and pushing;
- `workflows`: `build` and `push` from start to end.
"""
