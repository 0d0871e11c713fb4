// Package board holds the hardware profile of every board Tether runs on and
// detects which one it is from /proc/device-tree/model.
// A profile says where the LEDs and the button are wired, which camera, encoder
// and audio card to try, and the video defaults the board's CPU can sustain.
package board
