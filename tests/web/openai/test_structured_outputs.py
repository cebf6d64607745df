"""Structured outputs through the clients that ask for them: the openai SDK's response_format and .parse(),
LangChain's with_structured_output, vLLM's guided_* fields; on the bundled model, which writes Shakespeare,
not JSON, unless the grammar makes it."""
from __future__ import annotations

import json
import re

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from live_server import KEYS
from model.settings import BUNDLED_CHECKPOINT

PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 150},
                                           "happy": {"type": "boolean"}}, "required": ["name", "age", "happy"]}
ASK = [{"role": "user", "content": "Who art thou? Answer in JSON."}]


class Person(BaseModel):
    name: str = Field(max_length=20)
    age: int = Field(ge=0, le=150)
    happy: bool


@pytest.fixture(scope="module")
def bundled(servers):
    return servers("gunicorn", MODEL_CHECKPOINT=str(BUNDLED_CHECKPOINT))


@pytest.fixture
def client(bundled):
    with bundled.client() as c:
        yield c


def person_format(schema: dict = PERSON) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}


def test_a_hundred_answers_out_of_a_hundred_validate(client):
    texts = []
    for _ in range(10):
        res = client.chat.completions.create(model="shakespeare-12m.pt", messages=ASK, temperature=0.8, n=10,
                                             max_tokens=100, response_format=person_format())
        texts += [(c.message.content, c.finish_reason) for c in res.choices]
    assert len(texts) == 100
    for text, finish in texts:
        jsonschema.validate(json.loads(text), PERSON)
        assert finish == "stop"
    assert len({t for t, _ in texts}) > 50  # sampled at 0.8, not one answer forced a hundred times


def test_json_object_and_a_stream_whose_deltas_parse(client):
    res = client.chat.completions.create(model="shakespeare-12m.pt", messages=ASK, temperature=0.8, seed=3,
                                         max_tokens=200, response_format={"type": "json_object"})
    if res.choices[0].finish_reason == "stop":  # a free-form object may still be cut off by max_tokens
        assert isinstance(json.loads(res.choices[0].message.content), dict)
    assert res.choices[0].message.content.startswith("{")
    chunks = client.chat.completions.create(model="shakespeare-12m.pt", messages=ASK, temperature=0.8, seed=4,
                                            max_tokens=100, response_format=person_format(), stream=True)
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([d for d in deltas if d]) > 3
    jsonschema.validate(json.loads("".join(deltas)), PERSON)


def test_the_sdks_parse_helper_returns_the_model(client):
    res = client.beta.chat.completions.parse(model="shakespeare-12m.pt", messages=ASK, temperature=0.8,
                                             max_tokens=100, response_format=Person)
    assert isinstance(res.choices[0].message.parsed, Person)


def test_langchain_with_structured_output(bundled):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="shakespeare-12m.pt", base_url=bundled.url + "/v1", api_key=KEYS[0], temperature=0.8,
                     max_tokens=100, max_retries=0)
    person = llm.with_structured_output(Person, method="json_schema").invoke("Who art thou?")
    assert isinstance(person, Person)


@pytest.mark.parametrize("extra,check", [
    ({"guided_choice": ["Romeo", "Juliet", "Mercutio"]}, lambda t: t in ("Romeo", "Juliet", "Mercutio")),
    ({"structured_outputs": {"choice": ["aye", "nay"]}}, lambda t: t in ("aye", "nay")),
    ({"guided_regex": r"Act [IVX]{1,4}, scene [1-9]"}, lambda t: re.fullmatch(r"Act [IVX]{1,4}, scene [1-9]", t)),
    ({"structured_outputs": {"regex": r"[0-9]{4}"}}, lambda t: re.fullmatch(r"[0-9]{4}", t)),
    ({"guided_json": PERSON}, lambda t: jsonschema.validate(json.loads(t), PERSON) is None),
    ({"structured_outputs": {"json": json.dumps(PERSON)}}, lambda t: jsonschema.validate(json.loads(t), PERSON) is None),
])
def test_vllms_fields_on_chat_and_completions(client, extra, check):
    chat = client.chat.completions.create(model="shakespeare-12m.pt", messages=ASK, temperature=1.0,
                                          max_tokens=60, extra_body=extra)
    completion = client.completions.create(model="shakespeare-12m.pt", prompt="ROMEO:", temperature=1.0,
                                           max_tokens=60, extra_body=extra)
    for text in (chat.choices[0].message.content, completion.choices[0].text):
        assert check(text), text


@pytest.mark.parametrize("kwargs,param", [
    ({"response_format": person_format({"type": "object", "properties": {"a": {"type": "nonsense"}}})},
     "response_format"),
    ({"response_format": person_format({"type": "integer", "minimum": 3, "maximum": 1})}, "response_format"),
    ({"response_format": {"type": "xml"}}, "response_format"),
    ({"response_format": {"type": "json_schema"}}, "response_format"),
    ({"extra_body": {"guided_regex": "(unclosed"}}, "guided_regex"),
    ({"extra_body": {"guided_json": "{not json"}}, "guided_json"),
    ({"extra_body": {"guided_choice": []}}, "guided_choice"),
    ({"response_format": {"type": "json_object"}, "extra_body": {"guided_choice": ["a"]}}, "guided_choice"),
])
def test_a_broken_or_doubled_format_is_a_400_naming_it(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="shakespeare-12m.pt", messages=ASK, max_tokens=5, **kwargs)
    assert e.value.param == param and e.value.type == "invalid_request_error"
    assert e.value.code in ("invalid_value", "invalid_type")
