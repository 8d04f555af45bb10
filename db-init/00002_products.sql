-- The three products the course gave. The store never edits them through the API except
-- for stock. Only into an empty table: a database that the old db-init filled already has
-- them (with the stock its orders left), and they must not come twice.

-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN
IF NOT EXISTS (SELECT FROM products) THEN
    INSERT INTO products (name, description, category, price, slogan, stock) VALUES
        ('SUSTech Hoodie',
         'A cozy, stylish hoodie featuring the official SUSTech logo, perfect for showing school spirit.',
         'Apparel', 49.99, 'Stay warm, stay proud!', 500),
        ('SUSTech Water Bottle',
         'A high-quality, eco-friendly stainless steel water bottle with SUSTech branding.',
         'Drinkware', 19.99, 'Hydrate with pride!', 500),
        ('SUSTech Notebook',
         'A premium notebook with the SUSTech logo, ideal for jotting down ideas, notes, and memories.',
         'Stationery', 9.99, 'Write your future with SUSTech.', 500);
END IF;
END $$;
-- +goose StatementEnd
