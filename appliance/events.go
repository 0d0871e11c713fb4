package appliance

import (
	"context"
	"slices"

	"github.com/pion/webrtc/v4"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/media"
	"tether/signaling"
	"tether/signaling/socketio"
	"tether/store"
)

// event is anything Run handles; each type below names its sender.
type event interface{ isEvent() }

type (
	// From the socket's dispatch goroutine (signaling.Handlers).
	evVerified       struct{ v signaling.VerifyReply }
	evJoined         struct{ j signaling.JoinReply }
	evUserJoined     struct{ e signaling.RoomEvent }
	evCallEnded      struct{ user, why string } // room:user:left or call:ended
	evSessionExpired struct{}
	// From the socket manager (socketio.Config.OnStatus, OnEvent).
	evSocketStatus struct{ s socketio.Status }
	evSocketEvent  struct{ e socketio.ManagerEvent }
	// From the WebRTC layer's Run (peer.Config.OnStateChange).
	evPeerState struct{ from, to peer.State }
	// From the media pipeline (media.Config.OnChange).
	evMedia struct{ s media.Status }
	// From the speaker's player (media.PlayerConfig.OnChange): its state
	// changed; Run reads it.
	evSpeaker struct{}
	// From the display (display.Config.OnChange), the same way.
	evScreen struct{}
	// From pion (peer.Config.OnTrack): one of the customer's tracks.
	evTrack struct{ t *webrtc.TrackRemote }
	// From the reloader (SIGHUP, the setup page): the volume setting.
	evVolume struct{ percent int }
	// From the setup page and `tetherd login` (App.Login).
	evLogin struct {
		sess store.Session
		user string
		done chan<- error
	}
	// From the front-panel button (App.EndCall).
	evEndCall struct{}
	// From the console and the setup page (App.RequestRestart).
	evRestart struct{ why string }
	// From components that have something for the event log (the
	// front-panel button's password reset).
	evLogEvent struct{ e store.Event }
	// From the supervisor: Run still turns (closed when handled).
	evPing struct{ done chan<- struct{} }
)

func (evVerified) isEvent()       {}
func (evJoined) isEvent()         {}
func (evUserJoined) isEvent()     {}
func (evCallEnded) isEvent()      {}
func (evSessionExpired) isEvent() {}
func (evSocketStatus) isEvent()   {}
func (evSocketEvent) isEvent()    {}
func (evPeerState) isEvent()      {}
func (evMedia) isEvent()          {}
func (evSpeaker) isEvent()        {}
func (evScreen) isEvent()         {}
func (evTrack) isEvent()          {}
func (evVolume) isEvent()         {}
func (evLogin) isEvent()          {}
func (evEndCall) isEvent()        {}
func (evRestart) isEvent()        {}
func (evLogEvent) isEvent()       {}
func (evPing) isEvent()           {}

// handle applies one event; Run goroutine only. It returns a reason when
// the appliance must restart.
func (a *App) handle(ctx context.Context, ev event) (restart string, ok bool) {
	switch ev := ev.(type) {
	case evVerified:
		a.onVerified(ev.v)
	case evJoined:
		a.onJoined(ev.j)
	case evUserJoined:
		if ev.e.Role == "customer" {
			a.customerJoined(ev.e.UserID)
		}
	case evCallEnded:
		a.callEnded(ev.user, ev.why)
	case evSessionExpired:
		a.rec.event("socket", "connected", "session_expired", "hub says the session expired")
		// The hub took the counter out of its room and told the customer
		// it left (room:user:left); the customer's page closed its
		// PeerConnection. Ours must go too: after the next login the
		// customer gets a fresh one, never an ICE restart of a DTLS
		// session the far end has closed (pion: "mux: no endpoint").
		a.endCallLocally("session expired")
		a.loginNeeded("session expired")
	case evSocketStatus:
		a.onSocketStatus(ev.s)
	case evSocketEvent:
		a.onSocketEvent(ev.e)
	case evPeerState:
		a.onPeerState(ev.from, ev.to)
	case evMedia:
		a.health.ReportMedia(health.FromMedia(a.withOutputs(ev.s)))
	case evSpeaker, evScreen:
		a.health.ReportMedia(health.FromMedia(a.MediaStatus()))
	case evTrack:
		a.customerTrack(ctx, ev.t)
	case evVolume:
		if a.speaker != nil {
			a.speaker.SetVolume(ev.percent)
			a.log.Info("speaker volume", "percent", ev.percent)
		}
	case evLogin:
		ev.done <- a.onLogin(ev.sess, ev.user)
	case evEndCall:
		a.endCallByCounter(ctx)
	case evRestart:
		return ev.why, true
	case evLogEvent:
		a.rec.event(ev.e.Component, ev.e.From, ev.e.To, ev.e.Detail)
	case evPing:
		close(ev.done)
	}
	return "", false
}

// storeSession writes a new session and publishes it to the socket's
// connect hook. Run goroutine (or a Login before Run).
func (a *App) storeSession(s store.Session, detail string) error {
	if err := a.rec.session(s); err != nil {
		return err
	}
	a.publishSession(s)
	a.rec.event("appliance", "login", "logged in", detail)
	return nil
}

func (a *App) haveSession() bool {
	s := a.publishedSession()
	return s.Token != "" && !s.Expired(a.clk.Now())
}

// onLogin stores the session and resumes the socket: started at the first
// login, or told of a new identity — verify and join afresh, never recover
// the old session (issue 11).
func (a *App) onLogin(s store.Session, user string) error {
	if err := a.storeSession(s, "user "+user); err != nil {
		return err
	}
	a.needLogin = false
	if !a.deviceRunning.Load() {
		a.startDevice()
	} else {
		// A new identity: the call belonged to the old session, whose
		// socket the hub drops (the customer hears the counter left).
		a.endCallLocally("new login")
		a.device.Relogin()
	}
	return nil
}

// endCallLocally ends the WebRTC layer's call without telling the room:
// the hub has ended (or is ending) the old session's part in it itself.
// The WebRTC layer ends whatever call it has (an empty user), in order
// with the room events before it: its published Stats may not show a
// customer whose join it has not handled yet.
func (a *App) endCallLocally(why string) {
	if c := a.peer.Stats().Customer; c != "" {
		a.rec.event("call", c, "", why)
	}
	a.peer.CallEnded("")
	a.device.StatusChanged()
}

func (a *App) onVerified(v signaling.VerifyReply) {
	a.peer.SetICEServers(peer.ICEServersFromWire(v.ICEServers))
	a.needLogin = false // the hub took the session
	// Sliding expiry: keep the stored session's expiry current.
	sess := a.publishedSession()
	if v.ExpiresAt.IsZero() || (v.ExpiresAt.Equal(sess.ExpiresAt) && sess.DeviceID == v.DeviceID) {
		return
	}
	sess.ExpiresAt, sess.DeviceID = v.ExpiresAt, v.DeviceID
	if sess.RoomID == "" {
		sess.RoomID = v.RoomID
	}
	if err := a.rec.session(sess); err != nil {
		a.log.Warn("store session", "err", err)
		return
	}
	a.publishSession(sess)
}

// onJoined takes the join's members as the room as it is now. A customer
// the WebRTC layer is in a call with who is not among them is gone: it
// left during our outage, or this is another room after a login as
// another account. Its call ends before anything of the new room starts.
// After a reconnect a customer may already be in the room (waiting
// through our outage): it is treated as joining now.
func (a *App) onJoined(j signaling.JoinReply) {
	if c := a.peer.Stats().Customer; c != "" && !slices.ContainsFunc(j.Members, func(m signaling.Member) bool { return m.UserID == c }) {
		a.callEnded(c, "not in the room after (re)join")
	}
	for _, m := range j.Members {
		if m.Role == "customer" {
			a.customerJoined(m.UserID)
			return
		}
	}
}

// customerJoined is the seed's customer change, second half: the WebRTC
// layer, which owns the call, gives the customer the standby offer (or
// keeps the call of a customer who joined again).
func (a *App) customerJoined(user string) {
	if prev := a.peer.Stats().Customer; prev != user {
		a.rec.count(store.CounterCustomerChange, user)
		a.rec.event("call", prev, user, "customer joined")
		if prev != "" {
			a.customerGone() // the previous customer's voice stops now
		}
	}
	a.peer.UserJoined(user)
	a.device.StatusChanged()
}

// callEnded is the seed's customer change, first half: the WebRTC layer
// drops the customer's PeerConnection (if user is its customer), camera,
// mic and tracks stay, the next customer is waited for.
func (a *App) callEnded(user, why string) {
	if user == "" {
		return // "" would end any call: a room event must name its user
	}
	if a.peer.Stats().Customer == user {
		a.rec.event("call", user, "", why)
		a.customerGone()
	}
	a.peer.CallEnded(user)
	a.device.StatusChanged()
}

// endCallByCounter ends the current call from the front panel: the room
// is told in the background (an acknowledged emit may take a round trip),
// the WebRTC layer at once.
func (a *App) endCallByCounter(ctx context.Context) {
	c := a.peer.Stats().Customer
	if c == "" {
		return
	}
	a.callEnded(c, "ended by the counter")
	a.endCalls.Add(1)
	go func() {
		defer a.endCalls.Done()
		if err := a.device.EndCall(ctx, c, "ended_by_counter"); err != nil {
			a.log.Warn("end call", "err", err)
		}
	}()
}

func (a *App) onSocketStatus(s socketio.Status) {
	a.health.ReportSocket(health.SocketStatus{
		State: s.State, Transport: s.Transport, Attempt: s.Attempt,
		LastError: s.LastError, RTT: a.device.RTT(),
	})
	a.sockState = s.State
	if s.State == socketio.SessionExpired {
		a.needLogin = true
	}
	if s.State == socketio.Connected {
		a.everConnected = true
		a.rec.transportUp(s.Transport)
	}
}

func (a *App) onSocketEvent(e socketio.ManagerEvent) {
	switch e.Kind {
	case socketio.EventReconnect:
		a.rec.count(store.CounterSocketReconnect, e.Transport)
	case socketio.EventDisconnect:
		msg := ""
		if e.Err != nil {
			msg = e.Err.Error()
		}
		a.rec.event("socket", "connected", "disconnected", msg)
		if msg != "" {
			a.rec.lastError("socket", msg)
		}
	case socketio.EventConnect:
		a.rec.event("socket", "connecting", "connected", e.Transport)
	}
}

// onPeerState records a transition of the WebRTC layer. Its Stats may not
// show the new state yet (they are published after the event that caused
// it), so health gets the state from the transition itself.
func (a *App) onPeerState(from, to peer.State) {
	a.callState = to
	if to == peer.Waiting || to == peer.Idle {
		a.customerGone() // however the call ended: the speaker falls silent
	}
	a.rec.event("peer", from.String(), to.String(), "")
	if to == peer.Restarting {
		a.rec.count(store.CounterICERestart, from.String())
	}
	a.reportPeer(to)
	a.device.StatusChanged()
}
