// Submits the OAuth form_post response as soon as the page loads (the button is the no-script fallback).
document.getElementById("form-post").submit();
