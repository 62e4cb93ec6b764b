"""The catalogues shipped with the portal (editable afterwards by administrators).

Service types follow the six categories of the 2019 Law on Social Protection; the
hard-to-employ groups are those providers report their staff under."""

# (code, name_mk, name_sq, name_en, [(code, name_mk, name_sq, name_en), ...])
SERVICE_CATALOGUE = [
    ("information_referral", "Информирање и упатување", "Informim dhe udhëzim", "Information and referral", [
        ("information_referral", "Информирање и упатување", "Informim dhe udhëzim", "Information and referral"),
    ]),
    ("professional_support", "Стручна помош и поддршка", "Ndihmë dhe mbështetje profesionale",
     "Professional assistance and support", [
        ("professional_support", "Стручна помош и поддршка", "Ndihmë dhe mbështetje profesionale",
         "Professional assistance and support"),
    ]),
    ("counselling", "Советување", "Këshillim", "Counselling", [
        ("counselling", "Советодавни услуги", "Shërbime këshillimi", "Counselling services"),
    ]),
    ("home_based", "Услуги во домот", "Shërbime në shtëpi", "Home-based services", [
        ("home_help_care", "Помош и нега во домот", "Ndihmë dhe kujdes në shtëpi", "Home help and care"),
        ("personal_assistance", "Лична асистенција", "Asistencë personale", "Personal assistance"),
    ]),
    ("community", "Услуги во заедницата", "Shërbime në komunitet", "Community services", [
        ("day_centre_disability", "Дневен центар за лица со попреченост",
         "Qendër ditore për persona me aftësi të kufizuara", "Day centre for persons with disabilities"),
        ("day_centre_ageing", "Дневен центар за активно стареење", "Qendër ditore për plakje aktive",
         "Day centre for active ageing"),
        ("day_care", "Дневен престој", "Qëndrim ditor", "Day care"),
        ("temporary_care", "Привремен престој", "Qëndrim i përkohshëm", "Temporary (respite) care"),
        ("resocialisation", "Ресоцијализација", "Risocializim", "Resocialisation"),
        ("rehabilitation", "Рехабилитација", "Rehabilitim", "Rehabilitation"),
        ("reintegration", "Реинтеграција", "Riintegrim", "Reintegration"),
        ("halfway_house", "Куќа на пола пат", "Shtëpi gjysmë rruge", "Halfway house"),
        ("innovative_community", "Друга иновативна услуга во заедницата",
         "Shërbim tjetër inovativ në komunitet", "Other innovative community service"),
    ]),
    ("out_of_family", "Вонсемејна заштита", "Mbrojtje jashtë familjes", "Out-of-family protection", [
        ("supported_living", "Организирано живеење со поддршка", "Jetesë e organizuar me mbështetje",
         "Supported living"),
        ("small_group_home", "Мал групен дом", "Shtëpi e vogël në grup", "Small group home"),
        ("foster_care", "Згрижувачко семејство", "Familje kujdestare", "Foster care"),
    ]),
]

# (code, name_mk, name_sq, name_en, requires_note)
HARD_TO_EMPLOY = [
    ("gma_recipient", "Корисник на гарантирана минимална помош (ГМП)",
     "Përfitues i ndihmës minimale të garantuar (NMG)", "Recipient of guaranteed minimum assistance (GMA)", False),
    ("long_term_unemployed", "Долгорочно невработено лице (пријавено над 12 месеци)",
     "I papunë afatgjatë (i regjistruar mbi 12 muaj)", "Long-term unemployed (registered over 12 months)", False),
    ("youth", "Млад човек до 29 години", "I ri deri në 29 vjeç", "Young person up to 29", False),
    ("over_50", "Лице постаро од 50 години", "Person mbi 50 vjeç", "Person over 50", False),
    ("disability", "Лице со попреченост", "Person me aftësi të kufizuara", "Person with disability", False),
    ("roma", "Ром / Ромка", "Rom / Rome", "Roma", False),
    ("single_parent", "Самохран родител", "Prind i vetëm", "Single parent", False),
    ("parent_child_disability", "Родител на дете со попреченост", "Prind i fëmijës me aftësi të kufizuara",
     "Parent of a child with disability", False),
    ("former_child_without_care", "Лице кое било дете без родителска грижа",
     "Ish-fëmijë pa kujdes prindëror", "Former child without parental care", False),
    ("domestic_violence", "Жртва на семејно насилство", "Viktimë e dhunës në familje",
     "Victim of domestic violence", False),
    ("low_education", "Незавршено средно образование или пониско", "Arsim i mesëm i papërfunduar ose më i ulët",
     "Incomplete secondary education or less", False),
    ("unemployment_benefit", "Корисник на паричен надоместок за невработеност",
     "Përfitues i kompensimit në të holla për papunësi", "Recipient of unemployment benefit", False),
    ("other", "Друго (со забелешка)", "Tjetër (me shënim)", "Other (with a note)", True),
]
