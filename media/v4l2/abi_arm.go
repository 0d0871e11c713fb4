package v4l2

// On arm EABI struct v4l2_event ends at 124 bytes but is 8-aligned (its union
// holds an __s64), so C pads it to 128; Go aligns int64 to 4 on arm and would
// not. One extra reserved word reproduces the padding.
const eventReservedWords = 8 + 1
