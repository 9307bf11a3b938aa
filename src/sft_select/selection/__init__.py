"""Selection: choose S from the scored pool. Strategies are a plug point of their own."""
