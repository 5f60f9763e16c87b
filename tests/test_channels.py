"""Channel configuration: Apprise YAML with unit-code tags and ${ENV} secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from shanhai.notifications.channels import Channel, ChannelConfigError, load_channels

UNITS = {"yongjia": "永嘉县", "ouhai": "瓯海区", "zhaoshang": "市招商局（经合办）"}
TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "SEC7f3a9c2e5b1d4f8a6c0e2b4d6f8a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_no_path_means_nothing_is_configured():
    assert load_channels(None, environ={}, known_units=UNITS) == {}


def test_an_explicitly_empty_url_list_configures_nothing(tmp_path):
    assert load_channels(write(tmp_path, "version: 1\nurls: []\n"), environ={}, known_units=UNITS) == {}


def test_it_substitutes_secrets_from_the_environment(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        urls:
          - "dingtalk://${DINGTALK_YONGJIA_SECRET}@${DINGTALK_YONGJIA_TOKEN}/":
              - tag: yongjia
          - "mailto://127.0.0.1:2525?from=shanhai@example.cn&to=ouhai@example.cn&mode=insecure":
              tag: ouhai
        """,
    )
    env = {"DINGTALK_YONGJIA_SECRET": SECRET, "DINGTALK_YONGJIA_TOKEN": TOKEN}

    channels = load_channels(path, environ=env, known_units=UNITS)

    assert channels["yongjia"] == [Channel("yongjia", f"dingtalk://{SECRET}@{TOKEN}/")]
    assert channels["ouhai"][0].url.startswith("mailto://127.0.0.1:2525?")
    # The secret never shows in what gets logged.
    shown = repr(channels["yongjia"][0])
    assert SECRET not in shown and TOKEN not in shown
    assert "yongjia" in shown and "dingtalk://" in shown


def test_a_substituted_password_is_percent_encoded_into_one_url_component(tmp_path):
    path = write(
        tmp_path,
        """
        urls:
          - "mailtos://shanhai:${SMTP_PASSWORD}@smtp.example.cn?to=zsj@example.cn":
              tag: zhaoshang
        """,
    )
    channels = load_channels(path, environ={"SMTP_PASSWORD": "p@ss/w#rd?"}, known_units=UNITS)
    assert (
        channels["zhaoshang"][0].url
        == "mailtos://shanhai:p%40ss%2Fw%23rd%3F@smtp.example.cn?to=zsj@example.cn"
    )


def test_one_url_may_serve_several_units(tmp_path):
    path = write(
        tmp_path,
        """
        urls:
          - "json://127.0.0.1:8080/hook":
              tag: yongjia, ouhai
          - "jsons://hooks.example.cn/shanhai":
              tags: [zhaoshang]
        """,
    )
    channels = load_channels(path, environ={}, known_units=UNITS)
    assert [c.unit_code for c in channels["yongjia"] + channels["ouhai"]] == ["yongjia", "ouhai"]
    assert channels["zhaoshang"] == [Channel("zhaoshang", "jsons://hooks.example.cn/shanhai")]


def test_a_missing_variable_names_the_variable_and_the_unit(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        urls:
          - "wecombot://${WECOM_YONGJIA_KEY}":
              tag: yongjia
        """,
    )
    with pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={}, known_units=UNITS)
    message = str(err.value)
    assert "WECOM_YONGJIA_KEY" in message
    assert "永嘉县" in message and "yongjia" in message
    assert f"{path}:3: urls[0]:" in message


def test_an_invalid_url_names_the_unit_in_chinese_and_the_line(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        urls:
          - "json://127.0.0.1:8080/hook":
              tag: yongjia
          - "dingtalk://${DINGTALK_OUHAI_TOKEN}/":
              tag: ouhai
        """,
    )
    with pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={"DINGTALK_OUHAI_TOKEN": "not a token!"}, known_units=UNITS)
    message = str(err.value)
    assert "瓯海区" in message
    assert f"{path}:5: urls[1]:" in message
    # The URL is shown as written (placeholder), never with the substituted value.
    assert "dingtalk://${DINGTALK_OUHAI_TOKEN}/" in message
    assert "not a token!" not in message


def test_an_unsupported_scheme_is_an_invalid_url(tmp_path):
    path = write(tmp_path, 'urls:\n  - "nosuchservice://abc":\n      tag: yongjia\n')
    with pytest.raises(ChannelConfigError, match="永嘉县.*nosuchservice://abc"):
        load_channels(path, environ={}, known_units=UNITS)


def test_a_tag_that_is_no_known_unit_is_rejected(tmp_path):
    path = write(
        tmp_path,
        """
        urls:
          - "json://127.0.0.1:8080/hook":
              tag: lucheng
        """,
    )
    with pytest.raises(ChannelConfigError, match="'lucheng' 不是已知的单位代码") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert f"{path}:3: urls[0].tag:" in str(err.value)


def test_a_url_without_a_tag_is_rejected(tmp_path):
    path = write(tmp_path, 'urls:\n  - "json://127.0.0.1:8080/hook"\n')
    with pytest.raises(ChannelConfigError, match="没有 tag"):
        load_channels(path, environ={}, known_units=UNITS)


def test_options_outside_the_url_are_rejected_with_advice(tmp_path):
    path = write(
        tmp_path,
        """
        urls:
          - "dingtalk://${TOKEN}/":
              tag: yongjia
              secret: ${SECRET}
        """,
    )
    with pytest.raises(ChannelConfigError, match=r"'secret' 不受支持.*查询参数"):
        load_channels(path, environ={"TOKEN": TOKEN, "SECRET": SECRET}, known_units=UNITS)


def test_nothing_partial_every_problem_is_reported_and_nothing_is_loaded(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        urls:
          - "json://127.0.0.1:8080/good":
              tag: yongjia
          - "wecombot://${MISSING_KEY}":
              tag: ouhai
          - "json://127.0.0.1:8080/other":
              tag: nowhere
        """,
    )
    with pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert len(err.value.problems) == 2
    assert "MISSING_KEY" in str(err.value) and "'nowhere'" in str(err.value)
    assert "未加载任何渠道" in str(err.value)


def test_a_duplicate_channel_for_one_unit_is_rejected(tmp_path):
    path = write(
        tmp_path,
        """
        urls:
          - "json://127.0.0.1:8080/hook":
              tag: yongjia
          - "json://127.0.0.1:8080/hook":
              tag: yongjia
        """,
    )
    with pytest.raises(ChannelConfigError, match="与第2行重复"):
        load_channels(path, environ={}, known_units=UNITS)


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, 'urls:\n  - "json://127.0.0.1/x":\n      tag: [yongjia\n')
    with pytest.raises(ChannelConfigError, match=r"channels.yaml:\d+: \(syntax\): YAML 语法错误") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert str(path) in str(err.value)


def test_an_unknown_top_level_key_is_rejected(tmp_path):
    path = write(tmp_path, "include: other.yaml\nurls: []\n")
    with pytest.raises(ChannelConfigError, match="'include'"):
        load_channels(path, environ={}, known_units=UNITS)


def test_a_literal_token_in_an_error_is_masked(tmp_path):
    path = write(tmp_path, f'urls:\n  - "dingtalk://{TOKEN}/":\n      tag: lucheng\n')
    with pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert TOKEN not in str(err.value)


def test_apprise_does_not_log_the_rejected_secret(tmp_path, caplog):
    path = write(tmp_path, 'urls:\n  - "dingtalk://${BAD}@${TOKEN}/":\n      tag: yongjia\n')
    bad_secret = "SECthis-is-not!valid"
    with caplog.at_level("DEBUG"), pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={"BAD": bad_secret, "TOKEN": TOKEN}, known_units=UNITS)
    assert bad_secret not in str(err.value) and TOKEN not in str(err.value)
    assert bad_secret not in caplog.text and TOKEN not in caplog.text


# --------------------------------------------------------------------------- a configured file must be usable


def test_a_configured_file_that_is_missing_is_an_error_naming_it(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ChannelConfigError, match="文件不存在") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert err.value.path == str(path)


def test_a_configured_path_that_cannot_be_read_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "channels.yaml"
    folder.mkdir()
    with pytest.raises(ChannelConfigError, match="无法读取") as err:
        load_channels(folder, environ={}, known_units=UNITS)
    assert str(folder) in str(err.value)


def test_a_file_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_bytes('urls:\n  - "json://127.0.0.1/x":\n      tag: 永嘉\n'.encode("gb18030"))
    with pytest.raises(ChannelConfigError, match="UTF-8"):
        load_channels(path, environ={}, known_units=UNITS)


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# 渠道稍后再配\n", "version: 1\n", "version: 1\nurls:\n", "urls: ~\n"],
    ids=["empty", "blank", "comments-only", "no-urls", "urls-empty-value", "urls-null"],
)
def test_a_file_empty_by_mistake_is_an_error_not_no_channels(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ChannelConfigError, match="urls: \\[\\]") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert str(path) in str(err.value)


def test_an_empty_secret_names_the_variable_and_the_unit(tmp_path):
    path = write(tmp_path, 'urls:\n  - "wecombot://${WECOM_KEY}":\n      tag: yongjia\n')
    with pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={"WECOM_KEY": ""}, known_units=UNITS)
    message = str(err.value)
    assert "WECOM_KEY" in message and "空字符串" in message
    assert "永嘉县" in message and f"{path}:2: urls[0]:" in message


def test_a_placeholder_that_is_not_one_is_an_error(tmp_path):
    path = write(tmp_path, 'urls:\n  - "wecombot://${wecom-key}":\n      tag: yongjia\n')
    with pytest.raises(ChannelConfigError, match=r"无法识别的占位符"):
        load_channels(path, environ={"wecom-key": TOKEN}, known_units=UNITS)


# --------------------------------------------------------------------------- both Apprise shapes, read through pydantic


def test_both_entry_shapes_and_every_tag_spelling_are_read(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        urls:
          - "json://127.0.0.1:8080/a":
              tag: yongjia, ouhai
          - "json://127.0.0.1:8080/b":
              - tag: [zhaoshang]
              - tags: yongjia
          - "json://127.0.0.1:8080/c":
              tags: ouhai zhaoshang
        """,
    )
    channels = load_channels(path, environ={}, known_units=UNITS)
    paths = {code: [c.url.rsplit("/", 1)[1] for c in chs] for code, chs in channels.items()}
    assert paths == {"yongjia": ["a", "b"], "ouhai": ["a", "c"], "zhaoshang": ["b", "c"]}


def test_a_tag_written_beside_its_url_instead_of_under_it_gets_a_hint(tmp_path):
    path = write(tmp_path, 'urls:\n  - "json://127.0.0.1:8080/hook":\n    tag: yongjia\n')
    with pytest.raises(ChannelConfigError, match="缩进") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert f"{path}:2: urls[0]:" in str(err.value)


def test_a_tag_that_is_not_text_is_located_at_its_line(tmp_path):
    path = write(tmp_path, 'urls:\n  - "json://127.0.0.1:8080/hook":\n      - tag: yongjia\n      - tag: {a: 1}\n')
    with pytest.raises(ChannelConfigError, match="tag 应为") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert f"{path}:4: urls[0][1].tag:" in str(err.value)


def test_an_unsupported_setting_is_located_at_its_own_line(tmp_path):
    path = write(tmp_path, 'urls:\n  - "json://127.0.0.1:8080/hook":\n      tag: yongjia\n      format: markdown\n')
    with pytest.raises(ChannelConfigError, match="'format' 不受支持") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert f"{path}:4: urls[0].format:" in str(err.value)


def test_a_version_other_than_1_is_rejected(tmp_path):
    path = write(tmp_path, 'version: 2\nurls: []\n')
    with pytest.raises(ChannelConfigError, match="version: 1") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert f"{path}:1: version:" in str(err.value)


def test_urls_that_is_not_a_list_is_rejected(tmp_path):
    path = write(tmp_path, 'urls:\n  json://127.0.0.1/hook: {tag: yongjia}\n')
    with pytest.raises(ChannelConfigError, match="urls 应为列表"):
        load_channels(path, environ={}, known_units=UNITS)


def test_a_key_written_twice_is_refused_with_its_line_and_no_literal_token(tmp_path):
    path = write(tmp_path, f'urls:\n  - "dingtalk://{TOKEN}/":\n      tag: yongjia\n      tag: ouhai\n')
    with pytest.raises(ChannelConfigError, match="重复的键") as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert f"{path}:4: urls[0]:" in str(err.value)
    assert TOKEN not in str(err.value)


def test_an_alias_bomb_is_refused_fast(tmp_path):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(lines) + "\nurls: []\n")
    with pytest.raises(ChannelConfigError, match="aliases"):
        load_channels(path, environ={}, known_units=UNITS)


def test_a_literal_password_and_header_are_masked_in_errors(tmp_path):
    path = write(
        tmp_path,
        'urls:\n  - "json://user:hunter2pw@127.0.0.1:8080/hook?+Authorization=Bearer-abc":\n      tag: nowhere\n',
    )
    with pytest.raises(ChannelConfigError) as err:
        load_channels(path, environ={}, known_units=UNITS)
    assert "hunter2pw" not in str(err.value) and "Bearer-abc" not in str(err.value)
    assert "json://user:****@127.0.0.1:8080/hook" in str(err.value)


# --------------------------------------------------------------------------- any file: a result or a located error

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.sampled_from(["tag", "tags", "urls", "version", "yongjia", "ouhai, zhaoshang", "json://127.0.0.1:8080/hook",
                     "dingtalk://${TOKEN}/", "${", "mailto://x", "1"]),
    st.text(max_size=12),
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(["tag", "tags", "urls", "version", "json://127.0.0.1/h"]),
                                  st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(document=_DOCUMENTS, wrap=st.sampled_from(["top", "urls", "entry"]))
def test_any_document_gives_channels_or_a_located_error_never_a_crash(tmp_path_factory, document, wrap):
    data = {"top": document, "urls": {"urls": document}, "entry": {"urls": [{"json://127.0.0.1/h": document}]}}[wrap]
    path = tmp_path_factory.mktemp("fuzz") / "channels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        channels = load_channels(path, environ={"TOKEN": TOKEN}, known_units=UNITS)
    except ChannelConfigError as exc:
        assert exc.problems and str(path) in str(exc)
        assert all(p.file == str(path) for p in exc.problems)
    else:
        assert all(isinstance(c, Channel) for cs in channels.values() for c in cs)


def test_the_configured_channels_are_parsed_once_per_version_of_the_file_and_its_secrets(tmp_path, monkeypatch):
    """A delivery run asks for the channels of every message: the same file and environment are parsed
    once; a change of content (even at the same size) or of a ${VAR} it reads is seen at once."""
    from shanhai.notifications.outbox import configured_channels
    from tests.conftest import make_app

    path = tmp_path / "channels.yaml"
    body = 'urls:\n  - "json://127.0.0.1:9/${HOOK}":\n      - tag: taishun\n'
    path.write_text(body, encoding="utf-8")
    monkeypatch.setenv("HOOK", "a1")
    app = make_app(tmp_path / "home", f"sqlite:///{tmp_path / 'x.db'}", apprise_config=path)
    first = configured_channels(app)
    assert configured_channels(app) is first, "parsed once"
    monkeypatch.setenv("HOOK", "b2")
    assert configured_channels(app)["taishun"][0].url.endswith("/b2")
    path.write_text(body.replace("taishun", "yongjia"), encoding="utf-8")  # same size, other unit
    assert set(configured_channels(app)) == {"yongjia"}
    path.write_text("urls: [", encoding="utf-8")  # broken: an error every time, never an old answer
    for _ in range(2):
        with pytest.raises(ChannelConfigError):
            configured_channels(app)
