"""National LRS (NELC) sandbox."""
