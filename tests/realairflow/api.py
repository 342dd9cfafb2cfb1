"""The REST calls every test Airflow answers: a token from the login, then authenticated requests."""

from __future__ import annotations

import requests


class AirflowApi:
    """Mixed into a running Airflow's handle, which has ``url``, ``username`` and ``password``."""

    url: str
    username: str
    password: str

    def token(self) -> str:
        response = requests.post(f"{self.url}/auth/token", json={"username": self.username,
                                                                  "password": self.password}, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)
