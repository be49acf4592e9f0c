"""Synthetic RSS corpora for the scale benchmark (``bench/bench_scale.py``), with the truth about their stories.

Three corpora, each a pure function of its kind, its size and a seed:

* ``distinct``: every item its own story. Text is drawn from real news vocabulary in five
  languages (en 50%, fr 15%, ru 15%, uk 10%, ko 10%), so no two items share a lead sentence;
  what the job costs here is its cost per item, with no copies to fold.
* ``republished``: a republication-heavy news day. ``n // 20`` original stories are copied by
  other outlets, copy counts falling off by Zipf's law (the hottest story about 1,000 times at
  10,000 items, capped at 1,000 copies up to 10,000 items and 2,000 above); the rest are single
  stories. A copy has its own outlet, guid and URL, is published 0-36 hours after the original
  and carries the damage republication does (the outlet's opening line with its own time stamp,
  boilerplate lines, a sidebar of other headlines, the
  last paragraph cut, a new title, the dateline dropped), at most 10% of the words changed, never
  a number, date or name of the original's text.
* ``template``: thousands of alerts written from five wire templates (missile launches, drone
  attacks, earthquakes, air-defence reports, shelling reports). Each alert is its own event: two
  alerts always differ in at least one number or date, and about one in ten repeats another
  alert's numbers on another day, the hard case for near-duplicate clustering.

The truth (``Corpus.truth``) maps every item's link to its story label: a copy carries its
original's label, every other item a label of its own. Items are dealt to outlets in turn, and
``write_feeds`` writes one RSS 2.0 file per outlet of ``ITEMS_PER_FEED`` items.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

KINDS = ("distinct", "republished", "template")
ITEMS_PER_FEED = 100
LANGUAGE_SHARES = {"en": 0.50, "fr": 0.15, "ru": 0.15, "uk": 0.10, "ko": 0.10}
# The news day: originals and single stories are published on October 20, copies up to 36 hours later.
DAY = datetime(2024, 10, 20, tzinfo=UTC)
COPY_DELAY_HOURS = 36.0
COPY_SHARE = 0.65  # share of the republished corpus that is copies
MAX_CHANGED_SHARE = 0.10  # at most this share of a copy's words differs from its original
TEMPLATE_REPEAT_SHARE = 0.10  # alerts that repeat an earlier alert's numbers on another day

# Vocabulary: function words, then news nouns, verbs and adjectives, as they appear in wire copy
# (Korean words with their particles and endings attached, as Korean is written).
_EN_FUNCTION = """
the a an of in on at to for with by from and or but as that which who whom after before during against over
under between about into than while since near across along amid despite it its they them their he his she her
we our this these those has have had was were is are been being will would could should may might must not no
also more most other some all many several both each every any such only still already again yet just even
there here when where why how because if although though until unless whether around toward towards within
without per via up down out off so too very then now today yesterday tonight
"""

_EN_CONTENT = """
government president minister ministry official officials army troops soldiers forces military defence missile
missiles drone drones attack attacks strike strikes war ceasefire talks agreement deal sanctions election
elections parliament vote law court police border region city village capital country people civilians
residents children families hospital school power energy electricity grid gas oil prices market markets
economy inflation bank budget aid weapons ammunition tanks artillery shelling system systems infrastructure
damage fire explosion explosions casualties deaths victims rescue emergency services authorities spokesman
spokeswoman statement report reports intelligence agency sources diplomats leaders summit meeting visit
delegation alliance NATO union embassy security council resolution crisis refugees evacuation front line
offensive counteroffensive positions territory occupation launch test program satellite warship navy coast sea
waters airspace flight aircraft jets pilots exports imports trade tariffs companies workers industry
production factory plant reactor dam bridge railway port grain harvest farmers weather storm rain winter
heating shortages blackout outages protest protesters opposition party campaign candidates polls voters
results investigation prosecutors charges trial sentence prison journalists media newspaper television
broadcast interview speech week weekend morning night evening day month year hours minutes percent million
billion kilometres tonnes dollars euros hryvnias roubles cost costs plan plans proposal decision policy
measures reform support pressure threat risk situation conflict fighting operation zone sector battalion
brigade commander general chief staff service document data figures increase decline growth debt rate taxes
wages pensions health vaccine climate drought floods earthquake governor mayor prime chancellor secretary
ambassador envoy negotiator adviser analysts experts observers witnesses survivors hostages prisoners exchange
convoy shipment delivery package funding loan reserves currency shares stocks investors demand supply fuel
diesel gasoline coal nuclear uranium plutonium warhead warheads launcher radar interceptor interceptors
battery batteries division regiment unit units commanders generals veterans volunteers recruits mobilisation
conscription draft frontline trenches villages towns districts provinces oblast settlement settlements
outskirts suburbs highway road roads building buildings apartment homes houses shelter shelters basement
sirens alert alerts warning warnings threats claims denial accusations allegations evidence footage images
video photos said told announced confirmed denied reported warned urged called accused claimed added noted
stressed launched fired attacked struck hit killed wounded injured destroyed damaged captured recaptured
retreated advanced deployed sent arrived met agreed signed approved rejected passed voted raised cut increased
fell rose dropped reached expected planned prepared continued resumed suspended ended began opened closed
evacuated restored repaired shot intercepted downed detected monitored tracked condemned welcomed promised
pledged demanded threatened responded discussed examined investigated arrested charged released returned
remained became needed received delivered supplied provided ordered says say expects plans wants seeks hopes
fears faces remains believes estimates estimated allowed blocked banned imposed lifted extended Russian
Ukrainian Korean North South American European Chinese Japanese French German British Western eastern southern
northern western civilian political economic regional local national international foreign senior former heavy
major massive ballistic new latest recent possible serious strong key main large small official urgent
hypersonic strategic tactical military-technical humanitarian diplomatic previous overnight
"""

_FR_FUNCTION = """
le la les un une des du de et ou mais donc car dans sur sous avec sans pour par chez entre contre vers depuis
pendant après avant selon malgré lors au aux ce cette ces son sa ses leur leurs il elle ils elles nous on qui
que dont où ne pas plus très aussi encore déjà toujours est sont a ont été était étaient sera seront fait deux
trois plusieurs tous toutes autre autres même notamment environ près alors ainsi cependant toutefois puis
enfin hier aujourd'hui demain lundi mardi mercredi jeudi vendredi samedi dimanche moins beaucoup peu tout
chaque aucun aucune certains certaines désormais jusqu'à face auprès parmi
"""

_FR_CONTENT = """
gouvernement président ministre ministère responsable responsables armée troupes soldats forces militaires
défense missile missiles drone drones attaque attaques frappe frappes guerre cessez-le-feu négociations accord
sanctions élection élections parlement vote loi tribunal police frontière région ville village capitale pays
population civils habitants enfants familles hôpital école électricité énergie réseau gaz pétrole prix marché
marchés économie inflation banque budget aide armes munitions chars artillerie bombardements système systèmes
infrastructures dégâts incendie explosion explosions victimes morts blessés secours urgence autorités
porte-parole communiqué rapport renseignement agence sources diplomates dirigeants sommet réunion visite
délégation alliance OTAN union ambassade sécurité conseil résolution crise réfugiés évacuation front ligne
offensive contre-offensive positions territoire occupation lancement essai programme satellite navire marine
côte mer eaux espace vol avion avions pilotes exportations importations commerce entreprises travailleurs
industrie production usine centrale réacteur barrage pont port céréales récolte agriculteurs tempête pluie
hiver chauffage pénuries coupures manifestation manifestants opposition parti campagne candidats sondages
électeurs résultats enquête procureurs accusations procès peine prison journalistes médias journal télévision
entretien discours semaine matin nuit soir jour mois année heures minutes millions milliards kilomètres tonnes
dollars euros coût plan projet proposition décision politique mesures réforme soutien pression menace risque
situation conflit combat combats opération zone secteur bataillon brigade commandant général chef état-major
service services document données chiffres bilan hausse baisse croissance dette taux impôts salaires retraites
santé vaccins épidémie climat sécheresse inondations séisme gouverneur maire premier chancelier secrétaire
ambassadeur émissaire négociateur conseiller analystes experts observateurs témoins survivants otages
prisonniers échange convoi livraison financement prêt réserves monnaie actions investisseurs demande carburant
charbon uranium ogive lanceur radar batterie division régiment unité unités commandants généraux volontaires
recrues mobilisation tranchées villes districts provinces localité localités banlieue autoroute route routes
bâtiment bâtiments immeuble logements maisons abri abris sirènes alerte alertes avertissement preuves images
vidéo photos habitation quartier quartiers centre frontières côtes sol ciel eau électricien opérateur
réparations travaux déclaré annoncé confirmé démenti indiqué précisé affirmé averti appelé accusé ajouté
souligné lancé tiré attaqué frappé touché tué blessé détruit endommagé capturé repris reculé avancé déployé
envoyé arrivé rencontré signé approuvé rejeté adopté voté augmenté réduit chuté progressé atteint prévu
préparé poursuivi suspendu terminé commencé ouvert fermé évacué rétabli réparé abattu intercepté détecté
surveillé condamné salué promis exigé menacé répondu discuté examiné arrêté libéré resté devenu reçu livré
fourni ordonné affirme annonce estime prévoit dénonce reconnaît souhaite veut peut doit indique assure
explique rappelle précise ajoute demande exige refuse accepte craint espère russe russes ukrainien ukrainienne
ukrainiens coréen nord-coréen nord-coréens sud-coréen américain américaine européen européenne chinois
japonais français allemand britannique militaire civil politique économique nucléaire régional local national
international étranger haut ancien lourd grand grande massif balistique nouveau nouvelle dernier dernière
récent possible grave fort principal important officiel urgent énergétique aérienne occidentaux humanitaire
diplomatique stratégique précédent nocturne
"""

_RU_FUNCTION = """
и в во на с со по к ко от до из за для о об при без через после перед между против около над под а но или что
как также уже ещё не ни это этот эта эти его её их он она они мы который которые которая которого где когда
более менее все всех два три несколько других было была были будет может должны однако кроме пока лишь только
почти сегодня вчера ночью утром вечером днём понедельник вторник среду четверг пятницу субботу воскресенье
свой своих весь всего каждый многие такие так тоже даже именно затем поэтому если чтобы хотя
"""

_RU_CONTENT = """
правительство президент министр министерство чиновники армия войска военные солдаты силы оборона ракета ракеты
беспилотник беспилотники дроны атака атаки удар удары война перемирие переговоры соглашение санкции выборы
парламент голосование закон суд полиция граница область регион город село столица страна люди жители дети
семьи больница школа электричество энергетика сеть газ нефть цены рынок экономика инфляция банк бюджет помощь
оружие боеприпасы танки артиллерия обстрел обстрелы система системы инфраструктура ущерб пожар взрыв взрывы
жертвы погибшие раненые спасатели власти представитель заявление доклад разведка агентство источники дипломаты
лидеры саммит встреча визит делегация альянс НАТО союз посольство безопасность совет резолюция кризис беженцы
эвакуация фронт линия наступление контрнаступление позиции территория оккупация запуск испытание программа
спутник корабль флот побережье море воды пространство полёт самолёт самолёты пилоты экспорт импорт торговля
компании рабочие промышленность производство завод станция реактор плотина мост порт зерно урожай фермеры
погода шторм дождь зима отопление дефицит отключения протест протестующие оппозиция партия кампания кандидаты
опросы избиратели результаты расследование прокуроры обвинения процесс приговор тюрьма журналисты СМИ газета
телевидение интервью речь неделя утро ночь вечер день месяц год часов минут процентов миллионов миллиардов
километров тонн долларов рублей стоимость план проект предложение решение политика меры реформа поддержка
давление угроза риск ситуация конфликт бои операция зона направление батальон бригада командующий генерал
глава штаб служба документ данные цифры рост снижение долг ставка налоги зарплаты пенсии здравоохранение
губернатор мэр премьер канцлер секретарь посол эмиссар советник аналитики эксперты наблюдатели свидетели
заложники пленные обмен колонна поставки финансирование кредит резервы валюта акции инвесторы спрос топливо
уголь уран боеголовка радар батарея дивизия полк подразделение командиры добровольцы мобилизация окопы районы
населённый пункт окраины трасса дорога здание здания дом дома укрытие сирены тревога предупреждение
доказательства кадры видео фотографии квартиры улицы центр небо вода энергосистема подстанция ремонт жителей
военных людей города области страны года дня заявил заявила заявили сообщил сообщила сообщили объявил
подтвердил опроверг предупредил призвал обвинил добавил отметил подчеркнул запустил выпустил атаковали нанесли
поразили погибли ранены уничтожили повреждены захватили освободили отступили продвинулись развернули направили
прибыл встретился договорились подписали одобрил отклонил приняли проголосовали повысил сократил упали выросли
достигли ожидается планирует готовит продолжают возобновили приостановили завершили начали открыли закрыли
эвакуировали восстановили сбили перехватили обнаружили отслеживают осудил приветствовал пообещал потребовал
пригрозил ответил обсудили рассмотрел задержали вернулись остаются стал получили поставили предоставили
приказал считает говорит намерен пытается угрожает требует рассказал уточнил российский российские российских
украинский украинские украинских северокорейский северокорейские южнокорейский американский европейский
китайский японский французский немецкий британский западные военный гражданский политический экономический
ядерный региональный местные национальный международный иностранный бывший тяжёлый крупный массированный
баллистическая новый новые последний возможный серьёзный сильный ключевой главный официальный срочный
энергетической гуманитарный дипломатический стратегический мирных
"""

_UK_FUNCTION = """
і й та в у на з із зі по до від для про при без через після перед між проти біля над під а але або що як також
вже ще не ні це цей ця ці його її їх він вона вони ми який які яка якого де коли більше менше всі усіх два три
кілька інших було була були буде може мають однак крім поки лише тільки майже близько сьогодні вчора вночі
вранці ввечері вдень понеділок вівторок середу четвер п'ятницю суботу неділю свій своїх весь усього кожен
багато такі так теж навіть саме потім тому якщо щоб хоча
"""

_UK_CONTENT = """
уряд президент міністр міністерство посадовці армія війська військові солдати сили оборона ракета ракети
безпілотник безпілотники дрони атака атаки удар удари війна перемир'я переговори угода санкції вибори
парламент голосування закон суд поліція кордон область регіон місто село столиця країна люди цивільні мешканці
діти родини лікарня школа електроенергія енергетика мережа газ нафта ціни ринок економіка інфляція банк бюджет
допомога зброя боєприпаси танки артилерія обстріл обстріли система системи інфраструктура збитки пожежа вибух
вибухи жертви загиблі поранені рятувальники влада речник заява звіт розвідка агентство джерела дипломати
лідери саміт зустріч візит делегація альянс НАТО союз посольство безпека рада резолюція криза біженці
евакуація фронт лінія наступ контрнаступ позиції територія окупація запуск випробування програма супутник
корабель флот узбережжя море води простір політ літак літаки пілоти експорт імпорт торгівля компанії
працівники промисловість виробництво завод електростанція реактор дамба міст залізниця порт зерно врожай
фермери погода шторм дощ зима опалення дефіцит відключення протест протестувальники опозиція партія кампанія
кандидати опитування виборці результати розслідування прокурори звинувачення процес вирок в'язниця журналісти
ЗМІ газета телебачення інтерв'ю промова тиждень ранок ніч вечір день місяць рік годин хвилин відсотків
мільйонів мільярдів кілометрів тонн доларів гривень вартість план проєкт пропозиція рішення політика заходи
реформа підтримка тиск загроза ризик ситуація конфлікт бої операція зона напрямок батальйон бригада командувач
генерал голова штаб служба документ дані цифри зростання зниження борг ставка податки зарплати пенсії здоров'я
губернатор мер прем'єр канцлер секретар посол радник аналітики експерти спостерігачі свідки заручники полонені
обмін колона постачання фінансування кредит резерви валюта акції інвестори попит пальне вугілля уран
боєголовка радар батарея дивізія полк підрозділ командири добровольці мобілізація окопи райони населений пункт
околиці траса дорога будівля будівлі будинок будинки укриття сирени тривога попередження докази кадри відео
фотографії квартири вулиці центр небо вода енергосистема підстанція ремонт мешканців військових людей міста
області країни року дня громада громади заявив заявила заявили повідомив повідомила повідомили оголосив
підтвердив спростував попередив закликав звинуватив додав зазначив наголосив запустили випустили атакували
завдали уразили загинули знищили пошкоджено захопили звільнили відступили просунулися розгорнули направили
прибув зустрівся домовилися підписали схвалив відхилив ухвалили проголосували підвищив скоротив впали зросли
досягли очікується планує готує продовжують відновили призупинили завершили почали відкрили закрили евакуювали
відновлено збили перехопили виявили відстежують засудив привітав пообіцяв вимагав погрожував відповів
обговорили розглянув затримали звільнено повернулися залишаються став отримали поставили надали наказав вважає
каже намагається погрожує вимагає розповів уточнив російський російські російських український українські
українських північнокорейський північнокорейські південнокорейський американський європейський китайський
японський французький німецький британський західні військовий цивільний політичний економічний ядерний
регіональний місцеві національний міжнародний іноземний колишній важкий великий масований балістична новий
нові останній можливий серйозний сильний ключовий головний офіційний терміновий енергетичної гуманітарний
дипломатичний стратегічний цивільних
"""

_KO_FUNCTION = """
그리고 하지만 그러나 또한 이번 지난 오는 현재 이미 아직 다시 가장 더 모든 여러 일부 약 이날
이에 이후 이전 당시 한편 특히 최근 앞서 따라 대해 위해 통해 관련 대한 의한 같은 다른 주요 전
후 등 및 중 간 것으로 것이다 것은 있다 있는 없다 이 그 이를 이와 함께 또 곧 매우 계속 모두
각 총 올해 어제 오늘 내일 새벽 오전 오후 월요일 화요일 수요일 목요일 금요일 토요일 일요일
가운데 이상 이하 만에 동안 사이 때문에 경우 대로
"""

_KO_CONTENT = """
정부는 정부가 대통령은 대통령이 장관은 국방부는 외교부는 합동참모본부는 군은 군이 군대 병력 병사들
부대 국방 미사일을 미사일이 탄도미사일 무인기 드론 공격 공격을 공습 타격 전쟁 휴전 협상 합의
제재 선거 국회 투표 법안 법원 경찰 국경 지역 지역에서 도시 마을 수도 국가 국민 민간인 주민들
어린이 가족 병원 학교 전력 에너지 전기 가스 석유 가격 시장 경제 물가 은행 예산 지원 무기 탄약
전차 포병 포격 체계 시설 기반시설 피해 화재 폭발 사상자 사망자 부상자 구조 당국 대변인 성명
보고서 정보 기관 소식통 외교관 정상 정상회담 회의 방문 대표단 동맹 나토 연합 대사관 안보 위원회
결의 위기 난민 대피 전선 공세 반격 진지 영토 점령 발사 시험 핵 프로그램 위성 군함 해군 해안
바다 해상 영공 비행 항공기 전투기 조종사 수출 수입 무역 관세 기업 노동자 산업 생산 공장 발전소
원자로 댐 다리 철도 항구 곡물 수확 농민 날씨 폭풍 비 겨울 난방 부족 정전 시위 시위대 야당
정당 선거운동 후보 여론조사 유권자 결과 수사 검찰 혐의 재판 형량 교도소 기자 언론 신문 방송
인터뷰 연설 주말 아침 밤 저녁 하루 시간 분 퍼센트 킬로미터 톤 달러 비용 계획 제안 결정 정책
조치 개혁 압박 위협 위험 상황 갈등 전투 작전 구역 대대 여단 사령관 장군 참모 문서 자료 수치
증가 감소 성장 부채 금리 세금 임금 연금 보건 북한 북한은 북한이 러시아 러시아는 러시아군
우크라이나 우크라이나군 한국 한국은 미국 미국은 일본 중국 유럽 북한군 파병 군사협력 주지사 시장은
총리 총리는 대사 특사 고문 분석가 전문가 관측통 목격자 생존자 인질 포로 교환 호송대 보급 자금
대출 외환보유액 통화 주식 투자자 수요 공급 연료 석탄 우라늄 핵탄두 발사대 레이더 요격미사일 사단
연대 지휘관 자원병 동원령 참호 지구 주택 건물 아파트 대피소 사이렌 경보 경고 증거 영상 사진
거리 중심가 하늘 물 전력망 변전소 복구 작업 주민 군인 사람들 인명피해 재산피해 국제사회 유엔
안전보장이사회 결의안 도발 담화 조선중앙통신 국가정보원 국정원 합참 국방장관 외교장관 통일부 대북
남북 한미 한미일 연합훈련 훈련 정찰 감시 탐지 분석 평가 발표 보도 입장 우려 규탄 대응 밝혔다
전했다 말했다 발표했다 확인했다 부인했다 보도했다 경고했다 촉구했다 비난했다 주장했다 덧붙였다
강조했다 발사했다 공격했다 타격했다 숨졌다 다쳤다 파괴됐다 손상됐다 점령했다 탈환했다 후퇴했다
진격했다 배치했다 파견했다 도착했다 만났다 합의했다 서명했다 승인했다 거부했다 통과시켰다 인상했다
삭감했다 하락했다 상승했다 도달했다 예상된다 계획이다 준비하고 계속했다 재개했다 중단했다 시작했다
열었다 닫았다 대피했다 복구했다 격추했다 요격했다 탐지했다 감시하고 추적하고 규탄했다 환영했다
약속했다 요구했다 위협했다 대응했다 논의했다 검토했다 체포했다 석방했다 돌아왔다 됐다 필요하다
받았다 전달했다 공급했다 제공했다 지시했다 분석하고 있다고 했다고 밝혔다고 알려졌다 보인다 나타났다
설명했다 언급했다 지적했다 우려했다 예정이다 추정된다 새로운 강력한 대규모 심각한 긴급한 공식적인
군사적 정치적 경제적 외교적 인도적 전략적 전술적 지역적 국제적 북한의 러시아의 우크라이나의 한국의
미국의 일본의 중국의 유럽의 남쪽 북쪽 동쪽 서쪽 전날 최신 추가 여러차례
"""


def _words(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "en": _words(_EN_FUNCTION), "fr": _words(_FR_FUNCTION), "ru": _words(_RU_FUNCTION),
    "uk": _words(_UK_FUNCTION), "ko": _words(_KO_FUNCTION),
}
CONTENT_WORDS: dict[str, tuple[str, ...]] = {
    "en": _words(_EN_CONTENT), "fr": _words(_FR_CONTENT), "ru": _words(_RU_CONTENT),
    "uk": _words(_UK_CONTENT), "ko": _words(_KO_CONTENT),
}

# The same places in each language (Kyiv, Seoul, Moscow, Pyongyang, Kursk, Washington first).
PLACES: dict[str, tuple[str, ...]] = {
    "en": ("Kyiv", "Seoul", "Moscow", "Pyongyang", "Kursk", "Washington", "Kharkiv", "Odesa", "Donetsk",
           "Zaporizhzhia", "Busan", "Beijing", "Tokyo", "Brussels", "Paris", "Berlin", "London", "Warsaw", "Lviv",
           "Dnipro", "Belgorod", "Crimea", "Kherson", "Incheon"),
    "fr": ("Kiev", "Séoul", "Moscou", "Pyongyang", "Koursk", "Washington", "Kharkiv", "Odessa", "Donetsk",
           "Zaporijjia", "Busan", "Pékin", "Tokyo", "Bruxelles", "Paris", "Berlin", "Londres", "Varsovie", "Lviv",
           "Dnipro", "Belgorod", "Crimée", "Kherson", "Incheon"),
    "ru": ("Киев", "Сеул", "Москва", "Пхеньян", "Курск", "Вашингтон", "Харьков", "Одесса", "Донецк", "Запорожье",
           "Пусан", "Пекин", "Токио", "Брюссель", "Париж", "Берлин", "Лондон", "Варшава", "Львов", "Днепр",
           "Белгород", "Крым", "Херсон", "Инчхон"),
    "uk": ("Київ", "Сеул", "Москва", "Пхеньян", "Курськ", "Вашингтон", "Харків", "Одеса", "Донецьк", "Запоріжжя",
           "Пусан", "Пекін", "Токіо", "Брюссель", "Париж", "Берлін", "Лондон", "Варшава", "Львів", "Дніпро",
           "Бєлгород", "Крим", "Херсон", "Інчхон"),
    "ko": ("키이우", "서울", "모스크바", "평양", "쿠르스크", "워싱턴", "하르키우", "오데사", "도네츠크",
           "자포리자", "부산", "베이징", "도쿄", "브뤼셀", "파리", "베를린", "런던", "바르샤바", "르비우",
           "드니프로", "벨고로드", "크림반도", "헤르손", "인천"),
}
MONTH_OCTOBER = {"en": "October", "fr": "octobre", "ru": "октября", "uk": "жовтня"}
# Units a number is written with (Korean attaches its counters to the number).
UNITS: dict[str, tuple[str, ...]] = {
    "en": ("people", "percent", "kilometres", "drones", "missiles", "tonnes", "troops"),
    "fr": ("personnes", "pour cent", "kilomètres", "drones", "missiles", "tonnes", "soldats"),
    "ru": ("человек", "процентов", "километров", "дронов", "ракет", "тонн", "военных"),
    "uk": ("людей", "відсотків", "кілометрів", "дронів", "ракет", "тонн", "військових"),
    "ko": ("명", "%", "km", "대", "발", "톤", "개"),
}
AGENCY = {"en": "Eastwire", "fr": "Eastwire", "ru": "Истваер", "uk": "Іствайр", "ko": "이스트와이어"}
# Outlet boilerplate, in the copy's language ({outlet} and {host} are the republishing outlet's).
BOILERPLATE: dict[str, tuple[str, ...]] = {
    "en": ("SUBSCRIBE TO OUR NEWSLETTER FOR DAILY UPDATES", "Read more at {host}",
           "© 2024 {outlet}. All rights reserved.", "FOLLOW US ON TELEGRAM FOR BREAKING NEWS",
           "DOWNLOAD THE {OUTLET} APP", "Advertisement"),
    "fr": ("ABONNEZ-VOUS À NOTRE NEWSLETTER", "Lire la suite sur {host}", "© 2024 {outlet}. Tous droits réservés.",
           "SUIVEZ-NOUS SUR TELEGRAM", "Publicité"),
    "ru": ("ПОДПИСЫВАЙТЕСЬ НА НАШ ТЕЛЕГРАМ-КАНАЛ", "Читайте также на {host}",
           "© 2024 {outlet}. Все права защищены.", "Реклама"),
    "uk": ("ПІДПИСУЙТЕСЯ НА НАШ ТЕЛЕГРАМ-КАНАЛ", "Читайте більше на {host}",
           "© 2024 {outlet}. Усі права захищені.", "Реклама"),
    "ko": ("무단 전재 및 재배포 금지", "{outlet} 뉴스레터를 구독하세요", "© 2024 {outlet}. All rights reserved.",
           "기사 더 보기 {host}"),
}
# The line an outlet opens its pages with: its name, the copy's time stamp (with a time zone), a reading time.
# Each outlet keeps one format, so the line recurs across its items; numbers and names in it are not the story's.
START_LINES: dict[str, tuple[str, ...]] = {
    "en": ("{outlet} | Updated {day} October 2024, {hh}:{mm} GMT | {minutes} min read",
           "By {outlet} staff · {day} Oct 2024 {hh}:{mm} GMT", "{OUTLET} | {day}.10.2024 {hh}:{mm} UTC"),
    "fr": ("{outlet} · Publié le {day} octobre 2024 à {hh}h{mm} · Lecture {minutes} min",
           "Par la rédaction de {outlet} | {day}/10/2024 {hh}:{mm} CET"),
    "ru": ("{outlet} | {day}.10.2024 {hh}:{mm} МСК | Время чтения: {minutes} мин",
           "Редакция {outlet} · {day} октября 2024, {hh}:{mm} МСК"),
    "uk": ("{outlet} | {day}.10.2024 {hh}:{mm} EET | Час читання: {minutes} хв",
           "Редакція {outlet} · {day} жовтня 2024, {hh}:{mm} EET"),
    "ko": ("{outlet} | 입력 2024.10.{day} {hh}:{mm} | 수정 2024.10.{day} {hh}:{mm}",
           "{outlet} 기자 | 2024-10-{day} {hh}:{mm} KST"),
}
SIDEBAR_LABEL = {"en": "MORE NEWS", "fr": "À LIRE AUSSI", "ru": "ЧИТАЙТЕ ТАКЖЕ", "uk": "ЧИТАЙТЕ ТАКОЖ",
                 "ko": "관련 기사"}
DAMAGES = ("boilerplate_start", "boilerplate_end", "sidebar", "cut_last_paragraph", "retitle", "drop_dateline")

_OUTLET_FIRST = ("Northern", "Southern", "Eastern", "Western", "Central", "Evening", "Morning", "Daily", "Weekly",
                 "Capital", "Coastal", "Valley", "River", "Harbor", "Metro", "County", "Union", "Liberty", "Pioneer",
                 "Frontier", "Summit", "Prairie", "Lakeside", "Highland", "Baltic", "Danube", "Atlantic", "Pacific",
                 "Global", "National", "Provincial", "Civic", "Independent", "Free", "Open", "Public", "Citizen",
                 "Sentinel", "Beacon", "Compass")
_OUTLET_SECOND = ("Herald", "Courier", "Tribune", "Gazette", "Post", "Times", "Journal", "Observer", "Chronicle",
                  "Monitor", "Review", "Dispatch", "Express", "Standard", "Examiner", "Record", "Register", "Star",
                  "Telegraph", "Bulletin", "Ledger", "Mirror", "Press", "Reporter", "Echo", "Voice", "Digest",
                  "Wire", "Inquirer", "Messenger")
_SECTIONS = ("world", "news", "politics", "europe", "asia", "war", "international")


@dataclass(frozen=True)
class Outlet:
    """A publisher: one RSS feed, one host."""

    name: str
    host: str

    @property
    def slug(self) -> str:
        return self.host.removeprefix("www.").split(".")[0]


@dataclass(frozen=True)
class Item:
    """One feed item and what the truth says about it."""

    title: str
    link: str
    guid: str
    published: datetime
    paragraphs: tuple[str, ...]
    story: str  # truth label: copies share their original's
    outlet: Outlet
    language: str
    dateline: str | None = None  # the opening words of the first paragraph that are the dateline
    damage: tuple[str, ...] = ()  # what republication did to this copy (empty for originals)

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True)
class Corpus:
    """A corpus of one kind: its items in outlet order."""

    kind: str
    items: tuple[Item, ...]
    outlets: tuple[Outlet, ...]

    @property
    def truth(self) -> dict[str, str]:
        """link -> story label."""
        return {item.link: item.story for item in self.items}

    @property
    def truth_by_guid(self) -> dict[str, str]:
        """guid -> story label (the job keeps guids as given, while it canonicalizes links)."""
        return {item.guid: item.story for item in self.items}


@dataclass
class _Draft:
    """An item before it has an outlet, a link and a guid."""

    title: str
    paragraphs: list[str]
    published: datetime
    story: str
    language: str
    dateline: str | None = None
    damage: tuple[str, ...] = ()
    facts: _Facts | None = None  # what a new title for a copy may name


def outlets_for(count: int) -> tuple[Outlet, ...]:
    """``count`` outlets with distinct names and hosts."""
    found = []
    for i in range(count):
        first = _OUTLET_FIRST[i % len(_OUTLET_FIRST)]
        second = _OUTLET_SECOND[(i // len(_OUTLET_FIRST)) % len(_OUTLET_SECOND)]
        round_ = i // (len(_OUTLET_FIRST) * len(_OUTLET_SECOND))
        name = f"{first} {second}" + (f" {round_ + 1}" if round_ else "")
        found.append(Outlet(name, f"www.{name.lower().replace(' ', '-')}.example"))
    return tuple(found)


def word_count(text: str) -> int:
    """Words as the change budget counts them: runs between spaces."""
    return len(text.split())


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def number_text(value: float, language: str) -> str:
    """A number as the language writes it: 1,200 / 4.5 in English, 1 200 / 4,5 elsewhere."""
    if isinstance(value, float):
        text = f"{value:.1f}"
        return text if language in ("en", "ko") else text.replace(".", ",")
    grouped = f"{value:,}"
    return grouped if language in ("en", "ko") else grouped.replace(",", " ")


def date_text(day: int, language: str) -> str:
    """An October 2024 date as the language writes it."""
    if language == "ko":
        return f"10월 {day}일"
    if language == "en":
        return f"{MONTH_OCTOBER['en']} {day}"
    return f"{day} {MONTH_OCTOBER[language]}"


def _number(rng: random.Random, language: str) -> str:
    scale = rng.random()
    value: float = (rng.randint(2, 99) if scale < 0.5 else rng.randint(100, 999) if scale < 0.75
                    else rng.randint(1_000, 250_000) if scale < 0.9 else round(rng.uniform(1.1, 9.9), 1))
    text = number_text(value, language)
    if rng.random() < 0.6:
        unit = rng.choice(UNITS[language])
        return text + unit if language == "ko" else f"{text} {unit}"
    return text


@dataclass(frozen=True)
class _Facts:
    """The places, numbers and dates one story is about; its sentences mention them again and again."""

    places: tuple[str, ...]
    numbers: tuple[str, ...]
    dates: tuple[str, ...]

    def pick(self, rng: random.Random) -> str:
        kind = rng.random()
        pool = self.places if kind < 0.45 else self.numbers if kind < 0.85 else self.dates
        return rng.choice(pool)


def _facts(rng: random.Random, language: str) -> _Facts:
    return _Facts(
        places=tuple(rng.sample(PLACES[language], rng.randint(2, 3))),
        numbers=tuple(_number(rng, language) for _ in range(rng.randint(3, 5))),
        dates=tuple(date_text(rng.randint(14, 20), language) for _ in range(rng.randint(1, 2))),
    )


def _phrase(rng: random.Random, language: str, facts: _Facts, length: int) -> list[str]:
    """Tokens of ``length`` words in all: function words, news words and, now and then, one of the
    story's facts (a fact may be two words: "75 missiles", "October 18")."""
    function, content = FUNCTION_WORDS[language], CONTENT_WORDS[language]
    tokens: list[str] = []
    left = length
    while left:
        draw = rng.random()
        token = rng.choice(function) if draw < 0.35 else rng.choice(content) if draw < 0.92 else facts.pick(rng)
        if word_count(token) > left:
            token = rng.choice(content)
        tokens.append(token)
        left -= word_count(token)
    return tokens


def sentence(rng: random.Random, language: str, facts: _Facts) -> str:
    """A sentence of 8-25 words, with a comma now and then."""
    tokens = _phrase(rng, language, facts, rng.randint(8, 25))
    if len(tokens) > 12 and rng.random() < 0.5:
        at = rng.randint(4, len(tokens) - 4)
        tokens[at] += ","
    return _capitalized(" ".join(tokens)) + "."


def headline(rng: random.Random, language: str, facts: _Facts) -> str:
    """A title of 6-12 words naming one of the story's places."""
    place = facts.places[0]
    tokens = _phrase(rng, language, facts, rng.randint(6, 12) - word_count(place))
    tokens.insert(rng.randint(0, len(tokens)), place)
    return _capitalized(" ".join(tokens))


def dateline(place: str, day: int, language: str) -> str:
    """A wire dateline (``KYIV, Oct 20 (Eastwire) — ``) that opens a story's first paragraph."""
    agency = AGENCY[language]
    if language == "ko":
        return f"({place}={agency}) "
    if language == "en":
        return f"{place.upper()}, Oct {day} ({agency}) — "
    return f"{place.upper()}, {date_text(day, language)} ({agency}) — "


def story_text(rng: random.Random, language: str, with_dateline: bool) -> tuple[str, list[str], str | None, _Facts]:
    """Title, paragraphs, dateline and facts of a new story: ~120-250 words in paragraphs of 1-3 sentences,
    the last paragraph a single sentence (the one a copy most often loses)."""
    facts = _facts(rng, language)
    target = rng.randint(120, 230)  # the last sentence may carry it up to ~250
    sentences: list[str] = []
    while sum(word_count(s) for s in sentences) < target:
        sentences.append(sentence(rng, language, facts))
    last = sentences.pop()
    paragraphs = []
    while sentences:
        take = rng.randint(1, 3)
        paragraphs.append(" ".join(sentences[:take]))
        del sentences[:take]
    paragraphs.append(last)
    line = dateline(facts.places[0], DAY.day, language) if with_dateline else None
    if line:
        paragraphs[0] = line + paragraphs[0]
    return headline(rng, language, facts), paragraphs, line, facts


def _language(rng: random.Random) -> str:
    return rng.choices(tuple(LANGUAGE_SHARES), weights=tuple(LANGUAGE_SHARES.values()))[0]


def _story_rng(seed: int, kind: str, index: int) -> random.Random:
    """One generator per story, so a story's text does not depend on how many came before it."""
    return random.Random(f"{seed}:{kind}:{index}")


def _new_story(seed: int, kind: str, index: int, label: str, with_dateline: bool) -> _Draft:
    rng = _story_rng(seed, kind, index)
    language = _language(rng)
    title, paragraphs, line, facts = story_text(rng, language, with_dateline)
    published = DAY + timedelta(seconds=rng.randint(0, 24 * 3600 - 1))
    return _Draft(title, paragraphs, published, label, language, line, facts=facts)


def distinct_drafts(n: int, seed: int) -> list[_Draft]:
    """``n`` stories, each its own: about 40% of them open with a dateline, as wire copy does."""
    drafts = []
    for i in range(n):
        drafts.append(_new_story(seed, "distinct", i, f"distinct-{i}", with_dateline=i % 5 < 2))
    return drafts


def zipf_copy_counts(stories: int, copies: int, cap: int) -> list[int]:
    """Copies per story, hottest first: ``min(cap, A / rank)``, at least 1, with A the largest that
    keeps the total at or below ``copies`` (a story that is copied at all is copied at least once)."""
    def counts(scale: float) -> list[int]:
        return [max(1, min(cap, int(scale / rank))) for rank in range(1, stories + 1)]

    low, high = 1.0, float(copies) + 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if sum(counts(mid)) <= copies:
            low = mid
        else:
            high = mid
    return counts(low)


def copy_cap(n: int) -> int:
    """The most copies one story gets: 1,000 up to 10,000 items, 2,000 beyond."""
    return 1_000 if n <= 10_000 else 2_000


def _copy_delay(rng: random.Random) -> timedelta:
    """Most copies follow within hours, a few a day and a half later."""
    hours = min(COPY_DELAY_HOURS, rng.expovariate(1 / 6))
    return timedelta(seconds=max(60, int(hours * 3600)))


def start_line(outlet: Outlet, language: str, published: datetime, rng: random.Random) -> str:
    """The outlet's opening line for a copy published at ``published`` (see ``START_LINES``)."""
    formats = START_LINES[language]
    line = formats[sum(map(ord, outlet.name)) % len(formats)]
    return line.format(outlet=outlet.name, OUTLET=outlet.name.upper(), day=f"{published.day:02d}",
                       hh=f"{published.hour:02d}", mm=f"{published.minute:02d}", minutes=rng.randint(2, 9))


def republish(original: _Draft, outlet: Outlet, sidebar_pool: list[str], rng: random.Random) -> _Draft:
    """A copy of ``original`` as ``outlet`` republishes it: a few damages drawn at random, applied while the
    words added or removed stay within ``MAX_CHANGED_SHARE`` of the original's words (at least one always is).

    Only whole lines are added or removed, and the dateline is cut off whole, so every number, date and
    name left in the copy's text is the original's, in its place.
    """
    budget = int(MAX_CHANGED_SHARE * (word_count(original.title) + sum(map(word_count, original.paragraphs))))
    title, head, body, tail = original.title, [], list(original.paragraphs), []
    language = original.language
    wanted = [d for d in DAMAGES if rng.random() < 0.4] or [rng.choice(DAMAGES)]
    rng.shuffle(wanted)
    applied: list[str] = []

    def boilerplate() -> str:
        line = rng.choice(BOILERPLATE[language])
        return line.format(outlet=outlet.name, host=outlet.host, OUTLET=outlet.name.upper())

    published = original.published + _copy_delay(rng)
    for damage in wanted:
        if damage in ("boilerplate_start", "boilerplate_end"):
            line = start_line(outlet, language, published, rng) if damage == "boilerplate_start" else boilerplate()
            if word_count(line) <= budget:
                if damage == "boilerplate_start":
                    head.insert(0, line)
                else:
                    tail.append(line)
                budget -= word_count(line)
                applied.append(damage)
        elif damage == "sidebar":
            others = [t for t in sidebar_pool if t != original.title]
            for count in range(rng.randint(3, 6), 2, -1):
                lines = [SIDEBAR_LABEL[language]] + [
                    " ".join(t.split()[: rng.randint(4, 6)]) for t in rng.sample(others, min(count, len(others)))
                ]
                cost = sum(map(word_count, lines))
                if len(lines) > 3 and cost <= budget:
                    tail[:0] = lines
                    budget -= cost
                    applied.append(damage)
                    break
        elif damage == "cut_last_paragraph" and len(body) > 1 and word_count(body[-1]) <= budget:
            budget -= word_count(body.pop())
            applied.append(damage)
        elif damage == "retitle":
            new = headline(rng, language, original.facts or _Facts((rng.choice(PLACES[language]),), (), ()))
            cost = max(word_count(new), word_count(title))  # words replaced
            if cost <= budget:
                title = new
                budget -= cost
                applied.append(damage)
        elif damage == "drop_dateline" and original.dateline and word_count(original.dateline) <= budget:
            body[0] = body[0][len(original.dateline):]
            budget -= word_count(original.dateline)
            applied.append(damage)
    if not applied:  # nothing drawn fitted: a copy still carries its outlet's mark
        tail.append(min((boilerplate() for _ in range(3)), key=word_count))
        applied.append("boilerplate_end")
    return _Draft(title, head + body + tail, published, original.story, language, None, tuple(applied))


def republished_drafts(n: int, seed: int) -> list[_Draft]:
    """Hot stories (original, then its copies), hottest first, then the single stories."""
    stories = max(1, n // 20)
    counts = zipf_copy_counts(stories, min(round(COPY_SHARE * n), n - stories), copy_cap(n))
    singles = n - stories - sum(counts)
    originals = [_new_story(seed, "republished", i, f"story-{i}", with_dateline=True) for i in range(stories)]
    single = [_new_story(seed, "single", i, f"single-{i}", with_dateline=i % 5 < 2) for i in range(singles)]
    pool: dict[str, list[str]] = {}
    for draft in originals + single:
        pool.setdefault(draft.language, []).append(draft.title)
    drafts: list[_Draft] = []
    rng = random.Random(f"{seed}:copies")
    outlets = outlets_for(feed_count(n))
    for original, count in zip(originals, counts, strict=True):
        drafts.append(original)
        for _ in range(count):
            outlet = outlets[len(drafts) % len(outlets)]  # the outlet this position is dealt to
            drafts.append(republish(original, outlet, pool[original.language], rng))
    return drafts + single


@dataclass(frozen=True)
class Template:
    """A wire alert template: title and paragraphs with ``{slot}`` fields, and how to draw the slots
    (``draw(rng)`` returns every slot but the date ones, which are filled in from the event day)."""

    name: str
    title: str
    paragraphs: tuple[str, ...]
    draw: Callable[[random.Random], dict[str, object]]
    place_slots: tuple[str, ...]


_LAUNCH_SITES = ("Sunan", "Tongchang-ri", "Sinpo", "Wonsan", "Hamhung", "Kaechon", "Sukchon", "Jangyon", "Nampo",
                 "Mundok", "Kusong", "Jongju", "Hwangju", "Sariwon", "Kangdong", "Pyongsong", "Chongjin", "Kimchaek")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
_GOVERNORS = {"Kharkiv": "Oleh Syniehubov", "Odesa": "Oleh Kiper", "Dnipro": "Serhiy Lysak",
              "Zaporizhzhia": "Ivan Fedorov", "Kyiv": "Serhiy Popko", "Sumy": "Volodymyr Artiukh",
              "Mykolaiv": "Vitaliy Kim", "Kherson": "Oleksandr Prokudin", "Poltava": "Filip Pronin",
              "Chernihiv": "Viacheslav Chaus"}
_OBLAST_GOVERNORS = {"Kherson": "Oleksandr Prokudin", "Donetsk": "Vadym Filashkin", "Zaporizhzhia": "Ivan Fedorov",
                     "Kharkiv": "Oleh Syniehubov", "Sumy": "Volodymyr Artiukh", "Dnipropetrovsk": "Serhiy Lysak",
                     "Mykolaiv": "Vitaliy Kim", "Chernihiv": "Viacheslav Chaus"}
_FACILITIES = ("a kindergarten", "a school", "a supermarket", "a petrol station", "a warehouse", "a car repair shop",
               "a hospital", "an office building", "a grain terminal", "a post office")
_FRONT_TOWNS = ("Pokrovsk", "Kurakhove", "Toretsk", "Chasiv Yar", "Vuhledar", "Kupiansk", "Lyman", "Siversk",
                "Huliaipole", "Robotyne", "Velyka Novosilka", "Selydove")
_LAUNCH_AREAS = ("Kursk", "Oryol", "Bryansk", "Millerovo", "Primorsko-Akhtarsk", "Shatalovo", "Navlya")
_QUAKE_CITIES = {"Pohang": "Korea Meteorological Administration", "Gyeongju": "Korea Meteorological Administration",
                 "Jeju": "Korea Meteorological Administration", "Sendai": "Japan Meteorological Agency",
                 "Fukushima": "Japan Meteorological Agency", "Kumamoto": "Japan Meteorological Agency",
                 "Niigata": "Japan Meteorological Agency", "Hualien": "Central Weather Administration",
                 "Taitung": "Central Weather Administration", "Malatya": "AFAD disaster agency",
                 "Van": "AFAD disaster agency", "Izmir": "AFAD disaster agency"}
_DIRECTIONS = ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest")


def _missile(rng: random.Random) -> dict[str, object]:
    return {"place": rng.choice(_LAUNCH_SITES), "sea": rng.choice(("East Sea", "Yellow Sea")),
            "km": rng.randint(100, 1500), "alt": rng.randint(20, 2000), "ordinal": rng.choice(_ORDINALS),
            "hour": rng.randint(5, 11), "minute": f"{rng.randint(0, 59):02d}"}


def _drones(rng: random.Random) -> dict[str, object]:
    city = rng.choice(tuple(_GOVERNORS))
    launched = rng.randint(20, 150)
    return {"city": city, "governor": _GOVERNORS[city], "killed": rng.randint(1, 30), "wounded": rng.randint(2, 120),
            "buildings": rng.randint(2, 40), "facility": rng.choice(_FACILITIES), "districts": rng.randint(2, 6),
            "rescued": rng.randint(1, 20), "launched": launched, "missiles": rng.randint(1, 12),
            "downed": rng.randint(launched // 2, launched), "regions": rng.randint(5, 15), "hours": rng.randint(2, 9),
            "homes": f"{rng.randint(1_000, 90_000):,}"}


def _quake(rng: random.Random) -> dict[str, object]:
    city = rng.choice(tuple(_QUAKE_CITIES))
    magnitude = rng.randint(30, 75)
    return {"city": city, "agency": _QUAKE_CITIES[city], "mag": f"{magnitude / 10:.1f}",
            "first_mag": f"{(magnitude + rng.choice((-3, -2, 2, 3))) / 10:.1f}", "dist": rng.randint(5, 150),
            "direction": rng.choice(_DIRECTIONS), "hour": rng.randint(0, 23), "minute": f"{rng.randint(0, 59):02d}",
            "depth": rng.randint(5, 90), "secs": rng.randint(5, 60), "plants": rng.randint(2, 6),
            "lines": rng.randint(2, 9), "aftershocks": rng.randint(2, 40)}


def _air_defence(rng: random.Random) -> dict[str, object]:
    launched, missiles = rng.randint(20, 200), rng.randint(1, 20)
    downed = rng.randint(launched // 2, launched)
    first, second = rng.sample(tuple(_OBLAST_GOVERNORS), 2)
    return {"downed": downed, "launched": launched, "missiles_down": rng.randint(0, missiles), "missiles": missiles,
            "regions": rng.randint(3, 15), "oblast1": first, "oblast2": second,
            "lost": rng.randint(0, launched - downed), "site": rng.choice(_LAUNCH_AREAS), "injured": rng.randint(1, 15)}


def _shelling(rng: random.Random) -> dict[str, object]:
    oblast = rng.choice(tuple(_OBLAST_GOVERNORS))
    return {"oblast": oblast, "governor": _OBLAST_GOVERNORS[oblast], "killed": rng.randint(1, 12),
            "injured": rng.randint(2, 40), "settlements": rng.randint(5, 40), "houses": rng.randint(3, 60),
            "blocks": rng.randint(1, 12), "facility": rng.choice(_FACILITIES), "children": rng.randint(1, 6),
            "assaults": rng.randint(10, 180), "town": rng.choice(_FRONT_TOWNS), "hits": rng.randint(2, 30),
            "homes": f"{rng.randint(500, 20_000):,}"}


TEMPLATES = (
    Template(
        "missile",
        "North Korea fires ballistic missile toward {sea}, flight of {km} km",
        ("North Korea fired a ballistic missile from the {place} area toward the {sea} on {weekday}, October {day}, "
         "South Korea's Joint Chiefs of Staff said. The missile flew about {km} km at an altitude of {alt} km before "
         "splashing down in waters outside Japan's exclusive economic zone, according to Japan's defence ministry.",
         "It was the {ordinal} launch this month. The Joint Chiefs of Staff said the launch was detected at "
         "{hour}:{minute} a.m. and that South Korean and U.S. intelligence authorities were analysing its details. "
         "The military has stepped up surveillance and remains ready to respond, the statement said.",
         "Seoul's national security council convened an emergency meeting and condemned the launch as a clear "
         "violation of United Nations Security Council resolutions."),
        _missile, ("place",),
    ),
    Template(
        "drones",
        "Russian drone attack on {city} kills {killed}, wounds {wounded}",
        ("Russian drones attacked {city} overnight on {weekday}, October {day}, killing {killed} people and wounding "
         "{wounded} others, regional governor {governor} said on Telegram. Debris from downed drones damaged "
         "{buildings} residential buildings and {facility}, and fires broke out in {districts} districts of the "
         "city.",
         "Rescue workers pulled {rescued} people from the rubble, the State Emergency Service said. Ukraine's air "
         "force said Russia had launched {launched} Shahed-type drones and {missiles} missiles overnight, of which "
         "{downed} drones were shot down over {regions} regions.",
         "Air raid sirens sounded for more than {hours} hours. The mayor said power had been cut to about {homes} "
         "homes and that repair crews were working to restore electricity."),
        _drones, ("city",),
    ),
    Template(
        "quake",
        "Magnitude {mag} earthquake strikes near {city}",
        ("A magnitude {mag} earthquake struck {dist} km {direction} of {city} at {hour}:{minute} local time on "
         "{weekday}, October {day}, the {agency} said. The quake hit at a depth of {depth} km.",
         "There were no immediate reports of casualties or major damage, though residents of {city} said they felt "
         "strong shaking for about {secs} seconds. The agency first put the magnitude at {first_mag} before "
         "revising it.",
         "Authorities said they were checking {plants} power plants in the region and had found no abnormalities. "
         "Train services were briefly suspended on {lines} lines as a precaution, and {aftershocks} aftershocks "
         "were recorded in the following hours. No tsunami warning was issued."),
        _quake, ("city",),
    ),
    Template(
        "air_defence",
        "Ukraine shoots down {downed} of {launched} Russian drones overnight, air force says",
        ("Ukraine's air force said on {weekday}, October {day}, that it had shot down {downed} of the {launched} "
         "drones and {missiles_down} of {missiles} missiles Russia launched overnight. The attack targeted "
         "{regions} regions, including {oblast1} and {oblast2}, the air force said on Telegram.",
         "Another {lost} drones were lost from radar, most likely because of electronic warfare, and caused no "
         "damage. The drones were launched from the {site} area in Russia and from occupied Crimea, according to "
         "the statement.",
         "Regional authorities reported damage to energy infrastructure and private houses in the {oblast1} "
         "region, where {injured} people were injured. Ukraine has urged its Western partners to speed up "
         "deliveries of air defence systems before winter."),
        _air_defence, ("oblast1", "oblast2"),
    ),
    Template(
        "shelling",
        "Russian shelling kills {killed} civilians in {oblast} region",
        ("Russian shelling killed {killed} civilians and injured {injured} others in the {oblast} region over the "
         "past day, Governor {governor} said on {weekday}, October {day}. Russian forces attacked {settlements} "
         "towns and villages in the region, hitting {houses} private houses, {blocks} apartment blocks and "
         "{facility}.",
         "Among the wounded were {children} children, the governor said. Ukrainian forces repelled {assaults} "
         "assaults near {town} in the past 24 hours, the General Staff reported.",
         "In the regional centre, {hits} artillery strikes damaged a power line, leaving about {homes} residents "
         "without electricity. "
         "Police have opened criminal proceedings over violations of the laws and customs of war."),
        _shelling, ("oblast",),
    ),
)
_DIGITS = re.compile(r"\d+")
EVENT_DAYS = range(1, DAY.day + 1)  # alerts report events of October 1-20, 2024, published on October 20-21


def numbers_of(text: str) -> tuple[str, ...]:
    """The digit runs of a text, in order: what tells two alerts of one template apart."""
    return tuple(_DIGITS.findall(text))


def _render(template: Template, slots: dict[str, object]) -> tuple[str, list[str]]:
    return template.title.format(**slots), [p.format(**slots) for p in template.paragraphs]


def template_drafts(n: int, seed: int) -> list[_Draft]:
    """``n`` alerts, each its own event, dealt round the templates; about ``TEMPLATE_REPEAT_SHARE`` of them
    repeat an earlier alert's numbers (and, half the time, its places) on another day."""
    rng = random.Random(f"{seed}:template")
    seen: set[tuple[str, ...]] = set()
    earlier: dict[str, list[dict[str, object]]] = {t.name: [] for t in TEMPLATES}
    drafts = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        for _ in range(1000):
            before = earlier[template.name]
            if before and rng.random() < TEMPLATE_REPEAT_SHARE:
                slots = dict(rng.choice(before))
                day = rng.choice([d for d in EVENT_DAYS if d != slots["day"]])
                if rng.random() < 0.5:
                    fresh = template.draw(rng)
                    slots.update({k: fresh[k] for k in template.place_slots})
            else:
                slots, day = template.draw(rng), rng.choice(EVENT_DAYS)
            slots.update(day=day, weekday=datetime(2024, 10, day).strftime("%A"))
            title, paragraphs = _render(template, slots)
            key = numbers_of(title + " " + " ".join(paragraphs))
            if key not in seen:
                break
        else:
            raise RuntimeError(f"template {template.name}: no new event after 1000 draws")
        seen.add(key)
        before.append(slots)
        published = DAY + timedelta(seconds=rng.randint(0, 36 * 3600))
        drafts.append(_Draft(title, paragraphs, published, f"alert-{i}", "en"))
    return drafts


def feed_count(n: int) -> int:
    """Outlets (one feed each) for ``n`` items."""
    return max(1, math.ceil(n / ITEMS_PER_FEED))


def build_corpus(kind: str, n: int, seed: int = 2024) -> Corpus:
    """The ``kind`` corpus of ``n`` items; the same arguments always give the same corpus.

    Items are dealt to the outlets in turn, so an outlet holds ``ITEMS_PER_FEED`` items (when ``n`` is a
    multiple of it) and a story's copies land at different outlets until there are more copies than outlets.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown corpus {kind!r}; choose from {', '.join(KINDS)}")
    make = {"distinct": distinct_drafts, "republished": republished_drafts, "template": template_drafts}[kind]
    drafts = make(n, seed)
    outlets = outlets_for(feed_count(n))
    items = []
    for position, draft in enumerate(drafts):
        outlet = outlets[position % len(outlets)]
        section = _SECTIONS[position % len(_SECTIONS)]
        day = draft.published
        link = f"https://{outlet.host}/{section}/{day:%Y/%m/%d}/{kind}-{position:07d}"
        items.append(Item(
            title=draft.title, link=link, guid=f"{outlet.slug}-{kind}-{position:07d}", published=draft.published,
            paragraphs=tuple(draft.paragraphs), story=draft.story, outlet=outlet, language=draft.language,
            dateline=draft.dateline, damage=draft.damage,
        ))
    return Corpus(kind, tuple(items), outlets)


def rss_item(item: Item) -> str:
    """An RSS 2.0 ``<item>``; the body goes in ``<description>`` as escaped HTML paragraphs."""
    html = "".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)
    return (
        f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
        f"<guid isPermaLink=\"false\">{escape(item.guid)}</guid>"
        f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>"
        f"<description>{escape(html)}</description></item>"
    )


def rss_feed(outlet: Outlet, items: list[Item]) -> str:
    """An outlet's RSS 2.0 document, newest item first as feeds list them."""
    ordered = sorted(items, key=lambda i: i.published, reverse=True)
    return (
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>"
        f"<title>{escape(outlet.name)}</title><link>https://{outlet.host}/</link>"
        f"<description>Latest news from {escape(outlet.name)}</description>"
        + "".join(rss_item(i) for i in ordered) + "</channel></rss>\n"
    )


def write_feeds(corpus: Corpus, folder: Path) -> list[Path]:
    """One RSS file per outlet in ``folder``; returns their paths."""
    by_outlet: dict[Outlet, list[Item]] = {o: [] for o in corpus.outlets}
    for item in corpus.items:
        by_outlet[item.outlet].append(item)
    paths = []
    for index, (outlet, items) in enumerate(by_outlet.items()):
        path = folder / f"{corpus.kind}-{index:05d}-{outlet.slug}.xml"
        path.write_text(rss_feed(outlet, items), encoding="utf-8")
        paths.append(path)
    return paths
