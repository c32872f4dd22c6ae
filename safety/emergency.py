"""Does a resident's message signal danger right now? A lexicon of signs, then a classifier.

Pure apart from the classifier's lazy training (safety/classifier.py). Used by the NLU component
(:mod:`safety.nlu`: a *certain* emergency becomes the ``emergency`` intent), by the channels'
gate (an emergency is never rate limited, refused or held; a *possible* one gets a notice with
the numbers first) and by the voice policy (no "did you say …?" before an emergency).

Kinds, each answered by its own response ``utter_emergency_<kind>`` (bot/domain/safety.yml):

==========  ==================================================================================
fire        fire, smoke, explosion → 119
gas         gas leak, carbon monoxide → leave, no switches, 119 (120 for anyone unwell)
violence    being hit, a knife, break-in, robbery, kidnapping, threats → 110
suicide     wanting to die, self-harm, a plan or means → 心理援助热线 12356, 120/110
rescue      drowning, trapped (lift, flood, collapse), accident with injuries → 110/119/120
medical     chest pain, can't breathe, collapse / unconscious, stroke signs, heavy bleeding,
            seizures, choking, poisoning, a bad fall → 120
general     救命, "call the police/ambulance", a missing child or elder → 110/120/119
==========  ==================================================================================

How a message is read (README "Safety" has the reasons and the measured numbers):

1. **Normalised** first: full-width → ASCII, lower case, a few traditional characters →
   simplified, white space → a clause break (voice transcripts have no punctuation; typed
   messages often separate clauses by spaces).
2. **Signs** are regular expressions with the common typos and speech-recognition homophones
   as character classes (胸/凶, 疼/腾, 倒/到, 火/伙, 气/汽, 泄漏/泄露, 杀/沙, 120/幺二零).
   Each sign has a *level*: 2 for words that describe something happening (着火了, 喘不上气,
   晕倒, 不想活), 1 for words that are as often a topic as an event (中风, 火灾, 家暴, 车祸,
   燃气泄漏 as a noun). A few are *soft* (a missing elder, "叫救护车"): they only make a
   possible emergency, because the knowledge base answers those questions well.
3. **Negation**: a sign right after 不/没/没有/不是/并非 in the same clause (one of 是想要再在
   may stand between: "不是想自杀") does not count — "不是胸口疼，是牙疼" is no emergency,
   "不是头疼，是胸口疼" is. A question whether (是不是/会不会/有没有 中风) is not a negation.
   A message whose signs are all negated is not given to the classifier either.
4. **Context** discounts a sign when the message reads as administration (报销, 补贴, 办理,
   挂什么科, 反映 …), knowledge (症状, 原因, 预防, 培训, 新闻 …), a hypothesis or a worry
   (如果, 万一, 会…吗, 怕 …), the past (去年, 以前 …) or, for medical, gas and general signs, a
   chronic complaint (经常, 老是, 这几天 …). Urgency *now* (快, 马上, 正在, 不行了, 现在 …)
   always wins; for a level-1 sign a weaker urgency (怎么办, 突然, 刚才, 救命 …) wins over
   everything but administration.
5. **The classifier** (character n-grams, logistic regression) judges what no sign decided.
   Its hits are *possible* emergencies: the gate sends ``utter_emergency_notice`` first and the
   message is then handled as usual, so its false alarms cost one line.

The eval set and its numbers: ``safety/eval/emergency.jsonl``, ``bench/emergency_eval.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

KINDS = ("fire", "gas", "violence", "suicide", "rescue", "medical", "general")
# When one message shows several kinds, the first in KINDS is answered (the response of each
# kind also names the other numbers that may be needed).
_PRIORITY = {kind: index for index, kind in enumerate(KINDS)}

_TRADITIONAL = str.maketrans(
    "暈著氣殺燒傷來嘔腦風說話爐電搶綁兇們沒廁樓滅煙災"
    "藥醫護車禍壓悶頭臉邊動喚麼辦報幫發現髒臟",
    "晕着气杀烧伤来呕脑风说话炉电抢绑凶们没厕楼灭烟灾"
    "药医护车祸压闷头脸边动唤么办报帮发现脏脏",
)
_SPACE = re.compile(r"\s+")
# Clause breaks: punctuation (and white space, made a comma by normalise()).
_BREAK = "，,。.！!？?；;：:~～…、"
_CLAUSE = f"[^{_BREAK}]"  # any character inside a clause


def normalise(text: str) -> str:
    """The text the signs are matched on (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text or "").lower().translate(_TRADITIONAL)
    return _SPACE.sub("，", text.strip())


@dataclass(frozen=True)
class Sign:
    kind: str
    level: int
    name: str
    pattern: re.Pattern[str]
    # A sign is not counted when this matches the message (a known harmless phrase).
    unless: re.Pattern[str] | None = None
    # A soft sign only makes a *possible* emergency (a notice, then the usual answer): the
    # assistant has good answers to "老人走失了怎么办" or "什么时候叫救护车".
    soft: bool = False


def _sign(kind: str, level: int, name: str, pattern: str, unless: str | None = None,
          soft: bool = False) -> Sign:
    return Sign(kind, level, name, re.compile(pattern),
                re.compile(unless) if unless else None, soft)


C = _CLAUSE  # a character of the same clause, for the patterns below
_GAS = r"(?:煤气|燃气|天然气|液化气|瓦斯|煤汽|燃汽|天然汽|沼气)"
_PERSON = (r"(?:有人|有个人|有个男的|有个女的|一个人|那个人|那人|他|她|他们|老公|丈夫|老婆|"
           r"男朋友|男友|前夫|前男友|我爸|我妈|我哥|我弟|父亲|继父|邻居|一群人|歹徒|坏人|小偷|"
           r"醉汉|疯子)")
_CALL = r"(?:报警|打110|打120|打119|打幺幺零|打幺二零|打幺幺九|打一一零|打一二零|叫警察|叫救护车)"

_BODY_CHEST = r"(?:[胸凶兄]口|心口|心窝|心脏|胸部|胸前|前胸|胸膛)"
_HURT = r"(?:疼|痛|腾|闷|憋|(?<!要)紧|压着|绞|揪|针扎|刀割|撕裂)"
_FALL = r"(?:摔|跌|掉|滚|栽|倒)"
_CHEMICAL = (r"(?:洗衣液|消毒液|84|洁厕灵|漂白|农药|老鼠药|杀虫剂|敌敌畏|百草枯|汽油|柴油|酒精|"
             r"洗洁精|纽扣电池|电池|干燥剂|水银|安眠药|降压药|一大把药|一把药|药当糖|好多药|整瓶药)")
_KIN = (r"(?:孩子|小孩|老人|我妈|我爸|老伴|女儿|儿子|闺女|奶奶|爷爷|姥姥|姥爷|外婆|外公|老婆|"
        r"老公|爱人|婆婆|公公|丈夫|妻子|弟弟|妹妹|老爷子|老太太|老头子?|老人家|大爷|大妈)")

SIGNS: tuple[Sign, ...] = (
    # ---------------------------------------------------------------- medical
    _sign("medical", 2, "chest pain",
          rf"(?:[胸凶兄]口|心口|胸部|胸前|前胸|胸膛){C}{{0,5}}?(?:疼|痛|腾|闷|憋|紧|压着|绞)"
          r"|胸(?:疼|痛|闷)(?!中心|科)"),
    _sign("medical", 2, "chest pain (spoken)",
          rf"{_BODY_CHEST}(?:这块儿?|这里|这儿|那块儿?|里)?{C}{{0,4}}?{_HURT}(?!中心|科)"),
    _sign("medical", 1, "palpitations",
          r"心慌|心悸|心跳(?:得)?(?:特别|非常|好|很|突然)?(?:快|乱)|心脏突突|眼前发黑|站不住|站不稳"),
    _sign("medical", 2, "cannot breathe",
          r"(?:喘|出|上|透|吸|缓)不(?:上|过|来|了)来?(?:气|起)|呼吸(?:困难|不上来|不过来|不了|停了|急促)"
          r"|(?:没|没有|不能|无法|没法)(?:了)?呼吸|(?:脸|嘴唇|嘴)(?:都|全)?(?:憋|发)?紫|憋紫|窒息",
          unless=r"压力|压得|作业|工作|房贷|累得"),
    _sign("medical", 2, "cannot breathe (spoken)",
          r"喘不(?:上|过|动|了)(?:来|气)?|(?:一口)?气(?:都)?(?:没|喘不|上不|出不|接不)(?:上来|过来|来)"
          r"|(?:喘气|呼吸|出气|喘)(?:很|特别|非常|有点)?(?:困难|费劲|急促|不畅|不上来)|不喘气|不出气"
          r"|喘(?:气)?呼哧|倒不过(?:气|来)|(?:脸|嘴唇|嘴)(?:色)?(?:都)?(?:发)?[紫青]|捂着?胸口",
          unless=r"压力|压得|作业|工作|房贷|累得|打呼噜"),
    _sign("medical", 2, "collapse",
          r"[晕昏](?:倒|到|过去|迷|厥)|不省人事|(?:栽倒|倒地|倒在地|倒在路边|倒地上|倒在地上)"
          r"|(?:叫|喊)(?:他|她)?(?:也)?不(?:醒|应)|怎么叫都不醒|没(?:有)?(?:了)?意识|意识(?:不清|模糊)"
          r"|迷迷糊糊|(?:人|他|她)没(?:有)?反应|一点反应都没有|没知觉|休克"),
    _sign("medical", 2, "collapse (spoken)",
          rf"(?:歪|瘫|栽|一头)(?:倒|下去|下了|在地|在那|那了|地上|在沙发|在床)|倒下(?:去|了)|瘫(?:那|在那)"
          rf"|没(?:了)?动静|(?:人|他|她){C}{{0,3}}一动不动|(?:人|他|她)(?:也)?不动了|翻白眼|(?:两眼|眼睛)发直"
          rf"|(?:叫|喊)(?:他|她|人|也)?(?:也|都)?(?:叫|喊)?不(?:答应|应|醒|理|回应|睁眼|起来)|昏迷"
          r"|倒在(?:地|路边|楼道|门口|家里|厕所|卫生间|浴室|床边|马路|路上|楼梯)"
          rf"|(?:人|他|她|老人|孩子|老伴|{_KIN})(?:突然|一下子?)?(?:晕|昏)(?:了|倒|过去)"),
    _sign("medical", 1, "stroke",
          r"中风|脑梗|脑卒中|脑出血|脑溢血"),
    _sign("medical", 2, "stroke signs",
          r"嘴(?:角)?(?:都|也)?歪|口角歪|口眼歪|"
          rf"半边(?:身子|身体|脸|手脚){C}{{0,4}}(?:动不了|不能动|没劲|没力|麻|不听使唤)"
          r"|半身(?:不遂|麻|动不了)|"
          rf"一(?:侧|边)(?:手脚|肢体|身体|胳膊){C}{{0,3}}(?:没劲|无力|没力|麻|动不了)"
          r"|说话(?:也)?(?:不清|含糊|含含糊糊|大舌头)|说不出话|口齿不清|(?:手|胳膊)(?:也)?抬不起来"),
    _sign("medical", 2, "stroke signs (spoken)",
          rf"嘴角{C}{{0,4}}(?:歪|耷拉|下垂|往下)|(?:手|胳膊|腿){C}{{0,3}}"
          r"(?:拿不住|抬不起|没劲|没力气|不听使唤|动不了)|说话(?:突然)?(?:颠三倒四|不利索|舌头大)"
          rf"|半边(?:嘴|舌头){C}{{0,2}}麻|说不(?:出|了)话|前言不搭后语"),
    _sign("medical", 2, "bleeding",
          r"(?<!量)大出血(?!多)|血(?:止不住|流不止|流个不停|止都止不住|一直流|流了一地|喷)"
          r"|止不住血|流了(?:好多|很多|一地|一大摊|一大滩)(?:的)?血|(?:头上|满身|一身|满脸|满头)(?:都是)?血"
          r"|吐血|咯血"),
    _sign("medical", 2, "bleeding (spoken)",
          rf"血{C}{{0,4}}?(?:哗哗|往外冒|往外流|直流|直冒|喷|涌|止不住)"
          r"|(?:一直|不停|止不住|大量|好多|很多)(?:地|的)?(?:在)?(?:出血|流血|冒血)"
          r"|大口子|伤口(?:很|特别|非常)?深|骨头(?:都)?露|头(?:都)?(?:磕破|撞破|破了)|被机器(?:绞|压|卷)"
          rf"|吐(?:了)?{C}{{0,4}}血|流了(?:好多|很多|不少|一地|一大摊|一大滩)(?:的)?血"),
    _sign("medical", 2, "seizure", r"抽搐|抽风|口吐白沫|惊厥"),
    _sign("medical", 2, "cardiac",
          r"心脏病(?:又)?(?:犯了|发作|犯)|心脏骤停|(?:没|没有)(?:了)?心跳|心跳(?:停|没了)"
          r"|心脏(?:好像)?停了"),
    _sign("medical", 1, "heart attack", r"心梗|心肌梗"),
    _sign("medical", 2, "choking",
          rf"噎(?:住|着)|卡(?:住)?(?:了)?(?:在)?(?:喉咙|嗓子|气管)|(?:喉咙|嗓子){C}{{0,3}}(?:卡|肿)"),
    _sign("medical", 2, "poisoning",
          r"(?:误吃|误服|误喝|误食)|老鼠药|敌敌畏|百草枯|吞了(?:一颗|一个|一枚)|吃错(?:了)?药"),
    _sign("medical", 2, "poisoning (spoken)",
          rf"(?:把)?{_CHEMICAL}{C}{{0,4}}?(?:喝|吃|吞|舔)(?:了|下去)|(?:喝|吃|吞)(?:了|下)(?:半瓶|一瓶)?{_CHEMICAL}"
          r"|被(?:毒)?(?:蛇|蜂|马蜂|蝎子)(?:咬|蛰|蜇)|毒蛇|毒蜂"),
    _sign("medical", 1, "poisoned", r"中毒"),
    _sign("medical", 2, "bad fall",
          rf"(?:摔|跌)(?:了)?(?:一)?(?:跤|倒|下来|下去){C}{{0,6}}(?:起不来|爬不起来|不动|昏|晕|血)"),
    _sign("medical", 2, "bad fall (spoken)",
          rf"{_FALL}{C}{{0,4}}(?:下来|下去|倒|跤)[^。！？]{{0,8}}(?:起不来|爬不起来|站不起来|不动|昏|晕|头破|磕破)"),
    _sign("medical", 2, "sudden severe pain",
          r"剧烈(?:的)?(?:头痛|头疼|腹痛|肚子疼|疼痛)|(?:头|肚子|腹部)(?:突然)?剧烈(?:疼|痛)|剧痛"),
    _sign("medical", 1, "burn", r"烫伤|烧伤|被开水烫"),
    _sign("medical", 2, "electric shock", r"触电|被电(?:打|击|到)"),
    _sign("medical", 2, "stopped breathing", r"没气了|断气了|没了气",
          unless=_GAS + r"|停气|充值|燃气卡|气卡|轮胎|气球"),
    _sign("medical", 1, "ambulance",
          r"(?:叫|喊|打)(?:个|一下|辆|一辆)?(?:救护车|急救车|120|幺二零|一二零|999)|救护车快",
          soft=True),
    _sign("medical", 2, "dying", r"(?:快|要)不行了|快要死了|感觉要死了|快死了"),
    # ---------------------------------------------------------------- suicide
    _sign("suicide", 2, "wants to die",
          r"不想活|活不下去|活够了|不如死|想死(?!你|您|我了|了你|你们)|一死了之|一了百了|寻死|"
          r"(?:想|要|准备|打算|计划)(?:去)?(?:自杀|轻生|死掉|去死|结束自己|了结自己)|了结自己"
          r"|结束(?:自己的?)?生命|离开这个世界|活着(?:真|都|还|也)?没(?:有)?(?:意思|意义|盼头)"
          r"|不想再活|(?<!你)(?<!你怎么不)(?<!你咋不)去死",
          unless=r"想死的心|让人想死|令人想死"),
    _sign("suicide", 2, "wants to die (spoken)",
          rf"(?:死了|死掉|一死){C}{{0,3}}(?:解脱|就好了|干净|一了百了)|没有我{C}{{0,4}}(?:更好|会好)"
          r"|(?:药|安眠药)(?:都|已经)?攒(?:好|够)|攒了{C}{0,3}药|不想再醒|再也不(?:想)?醒|永远睡过去"
          r"|活着{C}{0,3}(?:受罪|太痛苦|太累了|没劲|没盼头)|(?:要|想|准备|说要|闹着)喝药|自我了断|了断自己"
          r"|把自己锁(?:在)?屋里|活着(?:干嘛|干什么|有什么意思|还有什么意思)|(?:永远|让自己)消失"
          r"|(?:准备好|备好)(?:了)?绳子|绳子(?:都)?(?:准备|备)好|(?:安眠药|药)(?:都|全)(?:吃|吞)了|活腻"
          r"|死了算了|想跳(?!舞|绳|槽|水|伞|广场舞)"),
    _sign("suicide", 1, "dangerous place",
          r"(?:我|他|她)(?:现在|一个人)?(?:站)?在(?:楼顶|天台|顶楼|桥上|桥边|河边|江边|湖边|铁轨|窗台)"
          r"|一走了之"),
    _sign("suicide", 1, "suicide", r"[自子]杀|[自子]沙|自尽|自残|自伤|轻生"),
    _sign("suicide", 2, "self-harm", r"割(?:了)?(?:自己的?)?(?:手)?腕|割(?:了)?自己|划(?:了)?自己"),
    _sign("suicide", 2, "means",
          r"跳楼(?!价)|跳河|跳江|跳湖|跳桥|跳下去|往下跳|卧轨|上吊|烧炭(?!取暖)|喝(?:了)?农药|"
          r"(?:吃|吞|喝)(?:了)?(?:一瓶|整瓶|一整瓶|很多|好多|一把|一百片|几十片|一大把)(?:的)?(?:安眠)?药"
          r"|吞(?:了)?安眠药|遗书"),
    # ---------------------------------------------------------------- fire
    _sign("fire", 2, "fire",
          r"(?:着|著)(?:了)?(?:大)?[火伙]|起(?:了)?(?:大)?火|失火|走水|烧起来|燃起来|火(?:很|好|特别|越来越)大"
          r"|火苗|冒(?:黑|白|浓)?烟|(?:全|都)是(?:浓)?烟|浓烟|爆炸|自燃|冒火花|救火",
          unless=r"着火点|爆炸头|油烟|吸烟|抽烟|烟花|烟雾报警器误报|烟囱冒烟"),
    _sign("fire", 2, "fire (spoken)",
          r"着起来|烧着了|扑不灭|灭不了|灭不掉|火光|火星子|烧焦味|(?:房子|楼|屋|车)(?:子)?{C}{0,3}烧着"
          r"|(?:阳台|厨房|油|床|锅|屋|房子|车|楼|柜子|窗帘|沙发|被子|衣服)着了|火(?:窜|蹿)|冒(?:出)?火(?!花)"
          r"|(?:全|都)是黑烟|(?:充电宝|电池|锅炉|煤气罐|手机|电动车)(?:爆)?炸了"
          .replace("{C}", C)),
    _sign("fire", 1, "fire (noun)", r"火灾(?!险|保险|隐患)|火警(?!电话)"),
    # ---------------------------------------------------------------- gas
    _sign("gas", 1, "gas leak",
          rf"{_GAS}[^。！？]{{0,14}}?(?:泄漏|泄露|外泄|漏气|漏了|跑气|味|管子?破|管道破|嘶嘶|滋滋|呲呲|冒气)"
          rf"|(?:味|气味|味道)[^。！？]{{0,8}}{_GAS}|{_GAS}{C}{{0,3}}没关"
          rf"|(?:热水器|燃气灶|煤气灶|灶台|煤气罐|钢瓶|气罐|阀门)[^。！？]{{0,6}}?漏气"
          r"|臭鸡蛋味",
          unless=r"漏气费|燃气费"),
    _sign("gas", 2, "carbon monoxide",
          rf"一氧化碳中毒|煤气中毒|(?:烧炭|煤炉|炭火|烧煤){C}{{0,8}}(?:头晕|头疼|想吐|恶心|晕倒|叫不醒)"),
    _sign("gas", 2, "carbon monoxide (stove)",
          r"(?:炉子|煤炉|蜂窝煤|炭盆|炭火|烧煤|烧炭)[^。！？]{0,10}(?:头疼|头晕|头痛|想吐|恶心|晕倒|叫不醒)"),
    # ---------------------------------------------------------------- violence
    _sign("violence", 2, "attacked",
          rf"{_PERSON}{C}{{0,6}}?(?:打|砍|捅|杀|掐|踢|揍|勒)(?!电话|手机|车|针|疫苗|卡|印|折|扫)"
          r"(?:我|人|孩子|小孩|我妈|我爸|我们|我老婆|我老公|死)"
          r"|(?:要|想|会)(?:杀|弄死|打死|砍死|捅死|杀了)我|杀了我|弄死我|打死我(?!也)"),
    _sign("violence", 1, "was attacked",
          r"被(?:人)?(?:打|砍|捅|刺|扎|抢|绑|绑架|性侵|强奸|猥亵|家暴|跟踪|拐|打伤)(?!针|疫苗|卡|印)"),
    _sign("violence", 1, "domestic violence", r"家暴|打架|斗殴"),
    _sign("violence", 2, "weapon or crime",
          r"持刀|拿(?:着)?(?:把)?(?:菜)?刀|举着刀|动刀|砍人|捅人|杀人|行凶|持械|开枪|有枪"
          r"|抢劫|抢(?:我的?|走)(?:包|钱|手机|孩子)|绑架|劫持|性侵|强奸|猥亵|撬(?:我家)?(?:的)?(?:门|锁)"
          r"|闯进|砸(?:我家)?(?:的)?门|跟踪我|一直跟着我|威胁我|抱走|拐走|偷走孩子",
          unless=r"游戏|狼人杀|剧本杀|割(?:了)?(?:自己|手腕|腕)"),
    _sign("violence", 2, "threat (spoken)",
          rf"撬{C}{{0,4}}(?:门|窗|锁)|拿(?:着)?(?:把|根)?(?:刀|棍子|棒子|铁棍|砖头|斧头|锤子|枪)"
          r"|砸(?:车|门|窗|东西|我)|围着打|围殴|群殴|打群架|(?:硬|强行|非)要进(?:我家|屋|门)|强行进"
          r"|不让我(?:走|下车|出门|离开|出去)|把我(?:关|锁)(?:在|起来)|"
          r"(?:还|又|在|一直|老是|天天|经常|使劲|往死里)打(?:我|孩子)(?!电话)"
          r"|踹(?:门|我)|掐(?:着)?(?:我|脖子)|被人(?:摸|拽|拉|拖|抓|掳)(?:了|进|走|上)"
          r"|(?:还|一直)跟着我"),
    # ---------------------------------------------------------------- rescue
    _sign("rescue", 2, "drowning",
          r"溺水|落水|掉(?:进|到)?(?:了)?(?:河|湖|水|江|海|井|冰窟窿|水库|粪坑)(?:里)?(?:了)?"
          r"|被水冲走|水涨上来|溺了水|在水里扑腾|扑腾",
          unless=r"落水管"),
    _sign("rescue", 1, "trapped",
          rf"被困|困在|困住|被埋|被压(?:在|住)|被砸|塌了|被水淹|(?:车|人|房子)被淹"
          rf"|电梯[^。！？]{{0,10}}(?:卡住|困|关在|停在半|停在两层|掉|坠|往下|不动了|出不去|出不来)|关在电梯"
          rf"|(?:头|手|脚|腿|身子|孩子|人){C}{{0,3}}卡(?:在|住)"),
    _sign("rescue", 1, "accident",
          rf"车祸|撞车|被车撞|(?:有人){C}{{0,4}}掉(?:下去|下来|进)|从楼上(?:掉|摔|坠)|坠楼"
          rf"|从{C}{{0,6}}(?:摔|掉|坠|跌)(?:了)?(?:下来|下去)|高处坠落"
          rf"|(?:掉|跌|摔|落)(?:进|到|入)(?:了)?{C}{{0,4}}(?:沟|坑|井|河|湖|江|海|冰窟窿)"
          rf"|(?:河|湖|江|海|水|井)边{C}{{0,6}}掉(?:下去|进)|(?:摔|掉|坠|跌)(?:下|进|到)(?:了)?(?:悬崖|山崖|山沟)"
          r"|车(?:子)?翻了|地震了|房子(?:裂|塌)了|(?:爬到|在)窗户?外(?:面|边)"),
    # ---------------------------------------------------------------- general
    _sign("general", 2, "help",
          rf"救命(?!稻草|钱|之恩|恩人|了)|救救(?:我|我们|孩子|他|她|命)|求救|快来人|来人啊|出(?:大)?事了"
          rf"|救人(?!员|英雄|事迹|奖)|出人命了|(?:快|赶紧|帮我|快点帮我){C}{{0,2}}叫人"
          rf"|(?:快|赶紧|马上|帮我|帮忙|快帮我|赶快){C}{{0,2}}{_CALL}"),
    _sign("general", 1, "missing person",
          rf"(?:孩子|小孩|老人|我妈|我爸|老伴|女儿|儿子|奶奶|爷爷|姥姥|姥爷){C}{{0,3}}"
          r"(?:走丢|走失|丢了|找不到了|不见了)", soft=True),
    _sign("general", 1, "missing person (spoken)",
          rf"{_KIN}[^。！？]{{0,12}}(?:没回来|找不到(?:人|了)|联系不上|不见了|走丢|走失)",
          soft=True),
)

# Context (see the module docstring). Searched in the whole normalised message.
_URGENT_NOW = re.compile(
    r"快来|快点|快救|快叫|快打|赶紧|赶快|马上|立刻|正在|还在|不行了|来人|快跑|求救|"
    r"现在(?!能|可以|怎么|需要|要|还能|办|申请|去|有|是|也)|"
    r"怎么叫都|叫不醒"
)
_URGENT = re.compile(
    _URGENT_NOW.pattern + r"|救命|救救|怎么办|咋办|突然|刚才|刚刚|厉害|剧烈|受不了|要死|急")
_ADMIN = re.compile(
    r"报销|医保|能报|报多少|缴费|交费|费用|多少钱|收费|补贴|补助|办理|怎么办理|怎么办证|申请|材料|流程|"
    r"证明|执照|许可|开户|过户|充值|安检|年检|预约|挂号|挂什么科|挂哪个科|哪个科|专家|门诊|慢病|"
    r"慢特病|残疾证|护理|康复|后遗症|鉴定|理赔|投诉|举报|隐患|保险|险|离婚|起诉|律师|法律援助|"
    r"保护令|取证|庇护|拘留|探视|哪里买|在哪买|哪里领|领取|哪个医院好|哪家医院|家庭医生|慢病卡|"
    r"能坐飞机|在哪个楼|哪里有卖|献血|输血|血库|心理治疗|去哪里做|去哪看|看心理医生|表格|填表|"
    r"怎么填|政策|结算|住院|污染|环保|判刑|案件|标准|反映"
)
_HYPOTHETICAL = re.compile(
    r"如果|万一|假如|要是|假设|遇到|遇上|应该怎么|怎么逃生|怎么施救|怎么处理|时应该|时怎么|以防|防止"
    r"|(?<!不)会(?!不会)[^，。]{0,6}吗|怕|担心"
)
_KNOWLEDGE = re.compile(
    r"知识|培训|讲座|课程|宣传|教育|演练|科普|征兆|症状|原因|什么病|危害|法律|规定|犯法|处罚|怎么判|"
    r"新闻|电影|电视剧|小说|游戏|证书|考证|报名|是什么意思|预防|怎么预防|有哪些|什么是|急救包"
    r"|什么情况下|啥情况下|哪些情况"
)
_PAST = re.compile(
    r"以前|之前|去年|前年|上次|曾经|未遂|小时候|(?<![晕昏睡死])过去|那年|以往|病史|有过"
    r"|[了犯梗]过[，,。]|过$"
)
_CHRONIC = re.compile(
    r"经常|老是|总是|时常|有时候|偶尔|时不时|常常|最近老|一直都|好几年|多年|长期|这两天|这几天"
    r"|两天了|几天了"
)
# Kinds where a chronic complaint is not an emergency now (a recurring gas smell is reported,
# a recurring chest pain is booked; recurring thoughts of suicide are not discounted).
_CHRONIC_KINDS = frozenset({"medical", "gas", "general"})

# Negation right before a sign, in the same clause (see the module docstring).
_NEGATION = re.compile(r"(?P<neg>不是|并不是|并非|没有|没|不)(?:[是想要再在])?$")


@dataclass(frozen=True)
class Hit:
    """One sign found in a message, and whether it counts."""

    kind: str
    sign: str
    level: int
    start: int
    end: int
    text: str
    negated: bool = False
    discounted: bool = False
    soft: bool = False

    @property
    def counts(self) -> bool:
        return not self.negated and not self.discounted


@dataclass(frozen=True)
class Emergency:
    """The answer of :func:`detect`: the kind to answer and the sign that decided it.

    ``certain``: a lexicon sign decided (the NLU answers it as the ``emergency`` intent, before
    and instead of anything else); otherwise the classifier thought it likely (the channels'
    gate sends a short notice with the numbers first, then the message is handled as usual).
    """

    kind: str
    sign: str
    start: int
    end: int
    text: str
    certain: bool = True


def _negated(clause_before: str) -> bool:
    match = _NEGATION.search(clause_before)
    if match is None:
        return False
    before = clause_before[: match.start()]
    negator = match.group("neg")
    # 是不是 / 会不会 / 要不要 / 能不能 / 有没有: a question whether, not a negation.
    if negator in ("不是", "不") and before.endswith(("是", "会", "要", "能", "可")):
        return False
    return not (negator in ("没有", "没") and before.endswith("有"))


def _clause_start(text: str, index: int) -> int:
    for position in range(index - 1, -1, -1):
        if text[position] in _BREAK:
            return position + 1
    return 0


def hits(text: str) -> list[Hit]:
    """Every sign in ``text`` with whether it counts (negated, discounted by its context)."""
    if not text or text.lstrip().startswith("/"):
        return []
    norm = normalise(text)
    urgent_now = bool(_URGENT_NOW.search(norm))
    urgent = bool(_URGENT.search(norm))
    admin = bool(_ADMIN.search(norm))
    not_now = bool(_HYPOTHETICAL.search(norm) or _KNOWLEDGE.search(norm) or _PAST.search(norm))
    chronic = bool(_CHRONIC.search(norm))
    found: list[Hit] = []
    for sign in SIGNS:
        if sign.unless is not None and sign.unless.search(norm):
            continue
        for match in sign.pattern.finditer(norm):
            start, end = match.span()
            negated = _negated(norm[_clause_start(norm, start):start])
            not_now_here = not_now or (chronic and sign.kind in _CHRONIC_KINDS)
            if urgent_now:
                discounted = False
            elif sign.level >= 2:
                discounted = not_now_here or admin
            else:
                discounted = admin or (not_now_here and not urgent)
            found.append(Hit(sign.kind, sign.name, sign.level, start, end, match.group(0),
                             negated, discounted, sign.soft))
    return found


def decide(found: Iterable[Hit]) -> Emergency | None:
    """The emergency answered for these hits: the counting hit of the highest-priority kind
    (a soft sign only when no other counts, and then a possible emergency)."""
    counting = [hit for hit in found if hit.counts]
    if not counting:
        return None
    best = min(counting, key=lambda hit: (hit.soft, _PRIORITY[hit.kind], -hit.level, hit.start))
    return Emergency(best.kind, best.sign, best.start, best.end, best.text,
                     certain=not best.soft)


# The classifier (safety/classifier.py) judges what the lexicon did not decide: a message with
# no sign, or whose signs were all discounted by their context (then it must be surer). Its
# hits are "possible" emergencies (a notice first, then the usual answer), so a false alarm
# costs one line. Chosen by 5-fold cross-validation on the training file
# (bench/emergency_eval.py --cv), not on the eval set.
THRESHOLD = 0.5
THRESHOLD_DISCOUNTED = 0.85


class _Model(Protocol):
    def probability(self, text: str) -> float: ...

    def kind(self, text: str) -> str: ...


def _default_model() -> _Model | None:
    from safety.classifier import model

    return model()


def detect(text: str, model: _Model | bool | None = True) -> Emergency | None:
    """The emergency ``text`` signals, or None. Button payloads (``/intent``) never do.

    The lexicon first (a sign that counts decides, with its kind: ``certain``); a message whose
    signs are all negated is no emergency; otherwise the classifier may find a possible one
    (``model=False``: the lexicon alone; a model object: that one instead of the trained
    default).
    """
    found = hits(text)
    decided = decide(found)
    if decided is not None:
        return decided
    if model is False or not text or text.lstrip().startswith("/"):
        return None
    if found and all(hit.negated for hit in found):
        return None
    classifier = _default_model() if model is True else model
    if classifier is None:
        return None
    probability = classifier.probability(text)
    if probability < (THRESHOLD_DISCOUNTED if found else THRESHOLD):
        return None
    return Emergency(classifier.kind(text), f"classifier {probability:.2f}", 0, len(text), text,
                     certain=False)
