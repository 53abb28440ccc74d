print("tokenwatch")
