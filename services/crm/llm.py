"""Scoring by an OpenAI-compatible chat completions endpoint (LLM_API_URL), optional.

The model gets the lead's signals as JSON and must answer with JSON holding a
score in [0, 1], one of our recommendations and a short reason. Anything else
(timeout, HTTP error, prose, an out-of-range score) is LlmUnavailable, and the
caller falls back to the local model.
"""
import json

import requests

PROMPT = (
    "You score sales leads for a small team's CRM. You get one lead's signals as JSON: "
    "source, stage, message_count, has_business_domain, business_domain, days_since_created. "
    "Answer with JSON only: {\"score\": number from 0 to 1, \"recommendation\": one of "
    "%s, \"reason\": one sentence}. Partner and referral leads are warmer, qualified means "
    "confirmed need, more messages mean more interest, sales need a business domain, and "
    "leads that wait long cool down.")
MAX_REASON = 500


class LlmUnavailable(Exception):
    pass


class LlmClient:
    def __init__(self, url, api_key="", model="gpt-4o-mini", timeout=5.0, session=None):
        self.url, self.api_key, self.model, self.timeout = url, api_key, model, timeout
        self.session = session or requests.Session()

    @classmethod
    def from_settings(cls, settings):
        return cls(settings.llm_api_url, settings.llm_api_key, settings.llm_model,
                   settings.llm_timeout_seconds)

    def score(self, signals, recommendations):
        """(score, recommendation, reason, model) for these signals, the recommendation
        one of `recommendations` (the scoring's codes), or LlmUnavailable."""
        body = {"model": self.model, "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": PROMPT % ", ".join(recommendations)},
                             {"role": "user", "content": json.dumps(signals)}]}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = self.session.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise LlmUnavailable(f"no answer ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise LlmUnavailable(f"HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
            answer = json.loads(content)
            score = float(answer["score"])
            recommendation = str(answer["recommendation"])
            reason = " ".join(str(answer["reason"]).split())
        except (ValueError, KeyError, IndexError, TypeError):
            raise LlmUnavailable("its answer was not the JSON asked for") from None
        if not 0.0 <= score <= 1.0:
            raise LlmUnavailable(f"score {score} is outside 0..1")
        if recommendation not in recommendations:
            raise LlmUnavailable(f"unknown recommendation {recommendation[:40]!r}")
        if not reason:
            raise LlmUnavailable("it gave no reason")
        return round(score, 2), recommendation, reason[:MAX_REASON], f"llm:{self.model}"[:255]
