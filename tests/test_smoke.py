import re

from portal.models import Role


def test_every_role_sees_its_home_page_in_three_languages(client, login_as, session):
    for role in Role:
        user = login_as(role)
        sign_out = {}
        for lang in ("mk", "sq", "en"):
            user.preferred_language = lang
            session.commit()
            response = client.get("/")
            body = response.get_data(as_text=True)
            assert response.status_code == 200, (role, lang)
            assert f'lang="{lang}"' in body
            assert "<h1>" in body
            sign_out[lang] = re.search(r'class="link-button">([^<]+)</button>', body).group(1)
        assert sign_out["en"] == "Sign out"
        assert len(set(sign_out.values())) == 3, sign_out
