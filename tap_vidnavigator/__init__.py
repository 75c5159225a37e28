"""tap-vidnavigator: a Singer tap for the VidNavigator TikTok profile API."""
