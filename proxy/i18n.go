package proxy

import (
	"bytes"
	"strconv"
	"strings"
)

// texts are the visible strings of the queue page in one language, both the
// ones rendered by the server and the ones its script shows later (the
// script receives the whole struct as JSON). "{n}", "{h}", "{m}", "{a}",
// "{b}", "{t}" and "{at}" are replaced by numbers, durations and times.
// Fields are exported for the JSON encoding and the page's templates; an
// event may override any of them but Lang and Sep (see PageConfig.Text,
// where they are named in snake case: KeepOpen is keep_open).
type texts struct {
	Lang string // BCP 47 tag of the page's lang attribute
	Sep  string // thousands separator of positions rendered by the server

	Headline    string
	Turn        string
	Joining     string
	Unavailable string
	Position    string
	Ahead       string
	Wait        string
	Updated     string
	Continue    string
	KeepOpen    string
	NoScript    string
	// Footer is empty unless an event sets it: the branded page's footer.
	Footer string

	Taking       string
	Paused       string
	RateLowered  string
	Reconnecting string
	TurnExpired  string

	PrequeueHeadline string
	PrequeueStartsIn string
	PrequeueDrawing  string
	PrequeueNote     string
	Member           string
	MemberNote       string

	ClosedHeadline  string
	ClosedOpens     string
	ClosedOpening   string
	EndedHeadline   string
	EndedMessage    string
	SoldOutHeadline string
	SoldOut         string

	ETAPaused         string
	ETAUnknown        string
	ETALess           string
	ETAMinute         string
	ETAMinutes        string
	ETAHour           string
	ETAHours          string
	ETAHourMinutes    string
	ETAHoursMinutes   string
	ETABetweenMinutes string
	ETABetween        string
	DurMinutes        string
	DurHours          string
	DurHoursMinutes   string
}

// languages are the page's languages; English is the fallback.
var languages = map[string]*texts{
	"en": {
		Lang: "en", Sep: ",",
		Headline:     "You are in line",
		Turn:         "It's your turn",
		Joining:      "Joining the line…",
		Unavailable:  "We could not give you a place just yet. This page tries again by itself in a few seconds.",
		Position:     "Your place in line",
		Ahead:        "People ahead of you",
		Wait:         "Estimated wait",
		Updated:      "Last updated",
		Continue:     "Continue to the site",
		KeepOpen:     "Keep this page open. Refreshing it is safe: you keep your place.",
		NoScript:     "This page checks your place every {n} seconds.",
		Taking:       "Taking you to the site now…",
		Paused:       "The line is paused for a moment. You keep your place.",
		RateLowered:  "The admission rate was lowered, so your wait is longer. You keep your place.",
		Reconnecting: "Reconnecting… you keep your place.",
		TurnExpired:  "Your turn expired because it was not used in time; you have a new place in line.",

		PrequeueHeadline: "You are in the pre-queue",
		PrequeueStartsIn: "The sale starts in {t}.",
		PrequeueDrawing:  "Drawing places…",
		PrequeueNote:     "When the sale starts, everyone in the pre-queue gets a place by a random draw: arriving earlier gives no advantage. Keep this page open.",
		Member:           "Your draw id",
		MemberNote:       "Use it to check your place in the published draw.",

		ClosedHeadline:  "Not open yet",
		ClosedOpens:     "The line opens at {at}, in {t}.",
		ClosedOpening:   "The line is opening…",
		EndedHeadline:   "This sale has ended",
		EndedMessage:    "No more places are given for this sale.",
		SoldOutHeadline: "Sold out",
		SoldOut:         "All tickets have been sold.",

		ETAPaused: "Paused", ETAUnknown: "Unknown", ETALess: "Less than a minute",
		ETAMinute: "About 1 minute", ETAMinutes: "About {n} minutes",
		ETAHour: "About 1 hour", ETAHours: "About {n} hours",
		ETAHourMinutes: "About 1 hour {m} minutes", ETAHoursMinutes: "About {h} hours {m} minutes",
		ETABetweenMinutes: "Between {a} and {b} minutes", ETABetween: "Between {a} and {b}",
		DurMinutes: "{n} min", DurHours: "{n} h", DurHoursMinutes: "{h} h {m} min",
	},
	"zh": {
		Lang: "zh", Sep: ",",
		Headline:     "您正在排队",
		Turn:         "轮到您了",
		Joining:      "正在加入队列…",
		Unavailable:  "暂时无法为您分配位置。本页面会在几秒后自动重试。",
		Position:     "您的排队位置",
		Ahead:        "您前面的人数",
		Wait:         "预计等待时间",
		Updated:      "最后更新",
		Continue:     "继续前往网站",
		KeepOpen:     "请保持此页面打开。刷新页面是安全的：您的位置会保留。",
		NoScript:     "此页面每 {n} 秒检查一次您的位置。",
		Taking:       "正在带您前往网站…",
		Paused:       "队列暂时暂停。您的位置会保留。",
		RateLowered:  "入场速度已降低，因此您的等待时间变长。您的位置会保留。",
		Reconnecting: "正在重新连接…您的位置会保留。",
		TurnExpired:  "您的轮次因未及时使用而已过期；您已获得新的排队位置。",

		PrequeueHeadline: "您在预排队中",
		PrequeueStartsIn: "距离开售还有 {t}。",
		PrequeueDrawing:  "正在抽签分配位置…",
		PrequeueNote:     "开售时，预排队中的每个人都将通过随机抽签获得位置：早到没有优势。请保持此页面打开。",
		Member:           "您的抽签编号",
		MemberNote:       "可用它在公布的抽签结果中核对您的位置。",

		ClosedHeadline:  "尚未开放",
		ClosedOpens:     "队列将于 {at} 开放，还有 {t}。",
		ClosedOpening:   "队列正在开放…",
		EndedHeadline:   "本次销售已结束",
		EndedMessage:    "本次销售不再分配新的位置。",
		SoldOutHeadline: "已售罄",
		SoldOut:         "所有门票均已售出。",

		ETAPaused: "已暂停", ETAUnknown: "未知", ETALess: "不到一分钟",
		ETAMinute: "约 1 分钟", ETAMinutes: "约 {n} 分钟",
		ETAHour: "约 1 小时", ETAHours: "约 {n} 小时",
		ETAHourMinutes: "约 1 小时 {m} 分钟", ETAHoursMinutes: "约 {h} 小时 {m} 分钟",
		ETABetweenMinutes: "约 {a} 至 {b} 分钟", ETABetween: "约 {a} 至 {b}",
		DurMinutes: "{n} 分钟", DurHours: "{n} 小时", DurHoursMinutes: "{h} 小时 {m} 分钟",
	},
	"es": {
		Lang: "es", Sep: ".",
		Headline:     "Estás en la fila",
		Turn:         "Es tu turno",
		Joining:      "Entrando en la fila…",
		Unavailable:  "Todavía no hemos podido darte un lugar. Esta página lo volverá a intentar sola en unos segundos.",
		Position:     "Tu lugar en la fila",
		Ahead:        "Personas delante de ti",
		Wait:         "Espera estimada",
		Updated:      "Última actualización",
		Continue:     "Continuar al sitio",
		KeepOpen:     "Mantén esta página abierta. Puedes recargarla sin problema: conservas tu lugar.",
		NoScript:     "Esta página comprueba tu lugar cada {n} segundos.",
		Taking:       "Te llevamos al sitio…",
		Paused:       "La fila está en pausa por un momento. Conservas tu lugar.",
		RateLowered:  "Se ha reducido el ritmo de entrada, así que la espera es más larga. Conservas tu lugar.",
		Reconnecting: "Reconectando… conservas tu lugar.",
		TurnExpired:  "Tu turno caducó porque no se usó a tiempo; tienes un nuevo lugar en la fila.",

		PrequeueHeadline: "Estás en la prefila",
		PrequeueStartsIn: "La venta empieza en {t}.",
		PrequeueDrawing:  "Sorteando los lugares…",
		PrequeueNote:     "Cuando empiece la venta, todos los que estén en la prefila recibirán un lugar por sorteo: llegar antes no da ventaja. Mantén esta página abierta.",
		Member:           "Tu identificador del sorteo",
		MemberNote:       "Úsalo para comprobar tu lugar en el sorteo publicado.",

		ClosedHeadline:  "Todavía no está abierto",
		ClosedOpens:     "La fila abre el {at}, dentro de {t}.",
		ClosedOpening:   "La fila está abriendo…",
		EndedHeadline:   "Esta venta ha terminado",
		EndedMessage:    "Ya no se dan lugares para esta venta.",
		SoldOutHeadline: "Agotado",
		SoldOut:         "Se han vendido todas las entradas.",

		ETAPaused: "En pausa", ETAUnknown: "Desconocida", ETALess: "Menos de un minuto",
		ETAMinute: "Alrededor de 1 minuto", ETAMinutes: "Unos {n} minutos",
		ETAHour: "Alrededor de 1 hora", ETAHours: "Unas {n} horas",
		ETAHourMinutes: "Alrededor de 1 hora y {m} minutos", ETAHoursMinutes: "Unas {h} horas y {m} minutos",
		ETABetweenMinutes: "Entre {a} y {b} minutos", ETABetween: "Entre {a} y {b}",
		DurMinutes: "{n} min", DurHours: "{n} h", DurHoursMinutes: "{h} h {m} min",
	},
	"fr": {
		Lang: "fr", Sep: "\u202f",
		Headline:     "Vous êtes dans la file d'attente",
		Turn:         "C'est votre tour",
		Joining:      "Entrée dans la file…",
		Unavailable:  "Nous n'avons pas encore pu vous attribuer une place. Cette page réessaie d'elle-même dans quelques secondes.",
		Position:     "Votre place dans la file",
		Ahead:        "Personnes devant vous",
		Wait:         "Attente estimée",
		Updated:      "Dernière mise à jour",
		Continue:     "Continuer vers le site",
		KeepOpen:     "Gardez cette page ouverte. Vous pouvez l'actualiser sans risque : vous gardez votre place.",
		NoScript:     "Cette page vérifie votre place toutes les {n} secondes.",
		Taking:       "Redirection vers le site…",
		Paused:       "La file est en pause pour un moment. Vous gardez votre place.",
		RateLowered:  "Le rythme des entrées a été réduit, votre attente est donc plus longue. Vous gardez votre place.",
		Reconnecting: "Reconnexion… vous gardez votre place.",
		TurnExpired:  "Votre tour a expiré car il n'a pas été utilisé à temps ; vous avez une nouvelle place dans la file.",

		PrequeueHeadline: "Vous êtes dans la pré-file",
		PrequeueStartsIn: "La vente commence dans {t}.",
		PrequeueDrawing:  "Tirage au sort des places…",
		PrequeueNote:     "Au début de la vente, chaque personne de la pré-file reçoit une place par tirage au sort : arriver plus tôt ne donne aucun avantage. Gardez cette page ouverte.",
		Member:           "Votre identifiant de tirage",
		MemberNote:       "Il vous permet de vérifier votre place dans le tirage publié.",

		ClosedHeadline:  "Pas encore ouvert",
		ClosedOpens:     "La file ouvre le {at}, dans {t}.",
		ClosedOpening:   "La file ouvre…",
		EndedHeadline:   "Cette vente est terminée",
		EndedMessage:    "Plus aucune place n'est attribuée pour cette vente.",
		SoldOutHeadline: "Complet",
		SoldOut:         "Tous les billets ont été vendus.",

		ETAPaused: "En pause", ETAUnknown: "Inconnue", ETALess: "Moins d'une minute",
		ETAMinute: "Environ 1 minute", ETAMinutes: "Environ {n} minutes",
		ETAHour: "Environ 1 heure", ETAHours: "Environ {n} heures",
		ETAHourMinutes: "Environ 1 heure {m} minutes", ETAHoursMinutes: "Environ {h} heures {m} minutes",
		ETABetweenMinutes: "Entre {a} et {b} minutes", ETABetween: "Entre {a} et {b}",
		DurMinutes: "{n} min", DurHours: "{n} h", DurHoursMinutes: "{h} h {m} min",
	},
	"de": {
		Lang: "de", Sep: ".",
		Headline:     "Sie sind in der Warteschlange",
		Turn:         "Sie sind an der Reihe",
		Joining:      "Sie werden eingereiht…",
		Unavailable:  "Wir konnten Ihnen noch keinen Platz geben. Diese Seite versucht es in wenigen Sekunden von selbst erneut.",
		Position:     "Ihr Platz in der Warteschlange",
		Ahead:        "Personen vor Ihnen",
		Wait:         "Geschätzte Wartezeit",
		Updated:      "Zuletzt aktualisiert",
		Continue:     "Weiter zur Website",
		KeepOpen:     "Lassen Sie diese Seite geöffnet. Neu laden ist unbedenklich: Sie behalten Ihren Platz.",
		NoScript:     "Diese Seite prüft Ihren Platz alle {n} Sekunden.",
		Taking:       "Sie werden jetzt zur Website weitergeleitet…",
		Paused:       "Die Warteschlange ist kurz angehalten. Sie behalten Ihren Platz.",
		RateLowered:  "Der Einlass wurde verlangsamt, daher dauert Ihre Wartezeit länger. Sie behalten Ihren Platz.",
		Reconnecting: "Verbindung wird wiederhergestellt… Sie behalten Ihren Platz.",
		TurnExpired:  "Ihr Einlass ist verfallen, weil er nicht rechtzeitig genutzt wurde; Sie haben einen neuen Platz in der Warteschlange.",

		PrequeueHeadline: "Sie sind in der Vorwarteschlange",
		PrequeueStartsIn: "Der Verkauf beginnt in {t}.",
		PrequeueDrawing:  "Die Plätze werden ausgelost…",
		PrequeueNote:     "Zum Verkaufsstart erhalten alle in der Vorwarteschlange ihren Platz per Los: Früher da zu sein bringt keinen Vorteil. Lassen Sie diese Seite geöffnet.",
		Member:           "Ihre Los-ID",
		MemberNote:       "Damit können Sie Ihren Platz in der veröffentlichten Auslosung prüfen.",

		ClosedHeadline:  "Noch nicht geöffnet",
		ClosedOpens:     "Die Warteschlange öffnet am {at}, in {t}.",
		ClosedOpening:   "Die Warteschlange wird geöffnet…",
		EndedHeadline:   "Dieser Verkauf ist beendet",
		EndedMessage:    "Für diesen Verkauf werden keine Plätze mehr vergeben.",
		SoldOutHeadline: "Ausverkauft",
		SoldOut:         "Alle Tickets wurden verkauft.",

		ETAPaused: "Angehalten", ETAUnknown: "Unbekannt", ETALess: "Weniger als eine Minute",
		ETAMinute: "Etwa 1 Minute", ETAMinutes: "Etwa {n} Minuten",
		ETAHour: "Etwa 1 Stunde", ETAHours: "Etwa {n} Stunden",
		ETAHourMinutes: "Etwa 1 Stunde {m} Minuten", ETAHoursMinutes: "Etwa {h} Stunden {m} Minuten",
		ETABetweenMinutes: "Zwischen {a} und {b} Minuten", ETABetween: "Zwischen {a} und {b}",
		DurMinutes: "{n} Min.", DurHours: "{n} Std.", DurHoursMinutes: "{h} Std. {m} Min.",
	},
}

// Bounds of Accept-Language parsing: the header is untrusted input, and
// browsers send a handful of ranges.
const (
	maxAcceptLanguageBytes  = 1024
	maxAcceptLanguageRanges = 32
)

// pickLanguage returns the texts for an Accept-Language header (RFC 9110
// §12.5.4): the supported language with the highest q-value, the earlier one
// on a tie. A range matches by its primary subtag, so zh-CN, zh-TW and
// zh-Hant all get Chinese (simplified), and "*" means English. Ranges with
// q=0, malformed ranges and anything past the bounds are ignored; English is
// the fallback.
func pickLanguage(header []byte) *texts {
	if len(header) > maxAcceptLanguageBytes {
		header = header[:maxAcceptLanguageBytes]
	}
	best, bestQ := languages["en"], 0.0
	for n := 0; len(header) > 0 && n < maxAcceptLanguageRanges; n++ {
		var item []byte
		if i := bytes.IndexByte(header, ','); i >= 0 {
			item, header = header[:i], header[i+1:]
		} else {
			item, header = header, nil
		}
		tag, q, ok := parseLanguageRange(item)
		if !ok || q <= bestQ {
			continue
		}
		t := languages["en"]
		if tag != "*" {
			if t = languages[tag]; t == nil {
				continue
			}
		}
		best, bestQ = t, q
	}
	return best
}

// parseLanguageRange parses one "tag;q=0.8" element into its lower-case
// primary subtag and its weight.
func parseLanguageRange(item []byte) (primary string, q float64, ok bool) {
	tag, params, _ := bytes.Cut(item, []byte(";"))
	tag = bytes.TrimSpace(tag)
	if i := bytes.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	if len(tag) == 0 || len(tag) > 8 {
		return "", 0, false
	}
	for _, c := range tag {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '*') {
			return "", 0, false
		}
	}
	q = 1
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		p = bytes.TrimSpace(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v, err := strconv.ParseFloat(string(p[2:]), 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return "", 0, false
		}
		q = v
	}
	return strings.ToLower(string(tag)), q, q > 0
}
