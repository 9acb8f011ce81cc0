"""Computer-based delivery (机考): exam sessions, rooms and seats, the candidate's attempt, the invigilator's console."""
