package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// call is one row of the table-driven tests: an RPC, the code it must
// answer and a piece of its detail; on success, check looks at the answer.
type call struct {
	name   string
	do     func(ctx context.Context) (proto.Message, error)
	want   codes.Code
	detail string
	check  func(t *testing.T, resp proto.Message)
}

func runCalls(t *testing.T, calls []call) {
	t.Helper()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := c.do(ctx)
			wantCode(t, err, c.want)
			if !strings.Contains(status.Convert(err).Message(), c.detail) {
				t.Errorf("detail %q does not contain %q", status.Convert(err).Message(), c.detail)
			}
			if err == nil && c.check != nil {
				c.check(t, resp)
			}
		})
	}
}

func TestProducts(t *testing.T) {
	s := startService(t, serviceOptions{})
	hoodie := func(t *testing.T, p *dbv1.Product) {
		t.Helper()
		want := &dbv1.Product{Id: 1, Name: "SUSTech Hoodie", Category: "Apparel", PriceCents: 4999, Slogan: "Stay warm, stay proud!",
			Description: "A cozy, stylish hoodie featuring the official SUSTech logo, perfect for showing school spirit."}
		got := proto.Clone(p).(*dbv1.Product)
		got.Stock, got.CreatedAt = 0, nil
		if !proto.Equal(got, want) {
			t.Errorf("product 1 = %v, want %v", got, want)
		}
		if p.GetCreatedAt() == nil || time.Since(p.GetCreatedAt().AsTime()) > time.Hour || time.Since(p.GetCreatedAt().AsTime()) < 0 {
			t.Errorf("created_at %v is not a recent UTC time", p.GetCreatedAt())
		}
	}
	runCalls(t, []call{
		{name: "list by id", do: func(ctx context.Context) (proto.Message, error) {
			return s.products.ListProducts(ctx, &dbv1.ListProductsRequest{})
		}, check: func(t *testing.T, m proto.Message) {
			ps := m.(*dbv1.ListProductsResponse).GetProducts()
			if len(ps) < 3 {
				t.Fatalf("%d products, want at least the 3 seeded", len(ps))
			}
			hoodie(t, ps[0])
			for i, want := range []int64{4999, 1999, 999} {
				if ps[i].GetId() != int32(i+1) || ps[i].GetPriceCents() != want {
					t.Errorf("products[%d] = id %d, %d cents; want id %d, %d cents", i, ps[i].GetId(), ps[i].GetPriceCents(), i+1, want)
				}
			}
			for i := 1; i < len(ps); i++ {
				if ps[i-1].GetId() >= ps[i].GetId() {
					t.Errorf("products not ordered by id: %d before %d", ps[i-1].GetId(), ps[i].GetId())
				}
			}
		}},
		{name: "get", do: func(ctx context.Context) (proto.Message, error) {
			return s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: 1})
		}, check: func(t *testing.T, m proto.Message) { hoodie(t, m.(*dbv1.GetProductResponse).GetProduct()) }},
		{name: "get unknown", want: codes.NotFound, detail: "product 7777 does not exist", do: func(ctx context.Context) (proto.Message, error) {
			return s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: 7777})
		}},
		{name: "get id 0", want: codes.InvalidArgument, detail: "id", do: func(ctx context.Context) (proto.Message, error) {
			return s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: 0})
		}},
		{name: "get negative id", want: codes.InvalidArgument, detail: "id", do: func(ctx context.Context) (proto.Message, error) {
			return s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: -3})
		}},
	})
}

func TestUsers(t *testing.T) {
	s := startService(t, serviceOptions{})
	n := unique()
	alice, err := s.users.CreateUser(context.Background(), &dbv1.CreateUserRequest{
		Sid: "A" + n, Username: "alice_" + n, Email: proto.String("alice" + n + "@example.com"), Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	gone := newUser(t, s)
	deactivate(t, s, gone)
	create := func(sid, username string, email *string, password string) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return s.users.CreateUser(ctx, &dbv1.CreateUserRequest{Sid: sid, Username: username, Email: email, Password: password})
		}
	}
	verify := func(username, password string) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: username, Password: password})
		}
	}
	update := func(req *dbv1.UpdateUserRequest) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) { return s.users.UpdateUser(ctx, req) }
	}
	// Alice's password changed once above: her tokens are at version 2.
	deactivateWith := func(id int32, currentPassword string) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return s.users.DeactivateUser(ctx, &dbv1.DeactivateUserRequest{Id: id, CurrentPassword: currentPassword, CredentialsVersion: 2})
		}
	}
	const badCredentials = "username or password is incorrect"
	runCalls(t, []call{
		{name: "create", do: create("B"+n, "bob.b-_"+n, proto.String("bob"+n+"@example.com"), "密码密码密码密码"), check: func(t *testing.T, m proto.Message) {
			u := m.(*dbv1.CreateUserResponse).GetUser()
			if u.GetId() <= 0 || u.GetSid() != "B"+n || u.GetUsername() != "bob.b-_"+n || u.GetEmail() != "bob"+n+"@example.com" ||
				!u.GetActive() || u.GetCredentialsVersion() != 1 || u.GetCreatedAt() == nil {
				t.Errorf("created user %v", u)
			}
		}},
		{name: "create without email", do: create("C"+n, "carol_"+n, nil, "carol-password"), check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.CreateUserResponse).GetUser(); u.Email != nil {
				t.Errorf("email %q, want unset", u.GetEmail())
			}
		}},
		{name: "create empty sid", want: codes.InvalidArgument, detail: "sid", do: create("", "dave", nil, "dave-password")},
		{name: "create long sid", want: codes.InvalidArgument, detail: "sid", do: create("1234567890123456", "dave", nil, "dave-password")},
		{name: "create short username", want: codes.InvalidArgument, detail: "username", do: create("1", "ab", nil, "dave-password")},
		{name: "create long username", want: codes.InvalidArgument, detail: "username", do: create("1", strings.Repeat("a", 51), nil, "dave-password")},
		{name: "create username with space", want: codes.InvalidArgument, detail: "username", do: create("1", "da ve", nil, "dave-password")},
		{name: "create bad email", want: codes.InvalidArgument, detail: "email", do: create("1", "dave", proto.String("not-an-email"), "dave-password")},
		{name: "create named email", want: codes.InvalidArgument, detail: "email", do: create("1", "dave", proto.String("Dave <d@example.com>"), "dave-password")},
		{name: "create long email", want: codes.InvalidArgument, detail: "email", do: create("1", "dave", proto.String(strings.Repeat("d", 244)+"@example.com"), "dave-password")},
		{name: "create short password", want: codes.InvalidArgument, detail: "password", do: create("1", "dave", nil, "1234567")},
		{name: "create long password", want: codes.InvalidArgument, detail: "password", do: create("1", "dave", nil, strings.Repeat("p", 129))},
		{name: "create taken username", want: codes.AlreadyExists, detail: `username "alice_` + n + `" is already taken`, do: create("1", "alice_"+n, nil, "dave-password")},
		{name: "create taken sid", want: codes.AlreadyExists, detail: `sid "A` + n + `" is already taken`, do: create("A"+n, "dave", nil, "dave-password")},
		{name: "create taken email", want: codes.AlreadyExists, detail: `email "alice` + n + `@example.com" is already taken`, do: create("1", "dave", proto.String("alice"+n+"@example.com"), "dave-password")},
		{name: "create deactivated user's username", want: codes.AlreadyExists, detail: "username", do: create("1", gone.GetUsername(), nil, "dave-password")},
		{name: "create taken username in other case", want: codes.AlreadyExists, detail: `username "ALICE_` + n + `" is already taken`, do: create("2", "ALICE_"+n, nil, "dave-password")},
		{name: "create taken email in other case", want: codes.AlreadyExists, detail: "email", do: create("2", "dave", proto.String("Alice"+n+"@EXAMPLE.com"), "dave-password")},
		{name: "create taken sid in other case", want: codes.AlreadyExists, detail: `sid "a` + n + `" is already taken`, do: create("a"+n, "dave", nil, "dave-password")},
		{name: "create sid of fullwidth digits", want: codes.InvalidArgument, detail: "sid", do: create("\uff11\uff12\uff13", "dave", nil, "dave-password")},

		{name: "get", do: func(ctx context.Context) (proto.Message, error) {
			return s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: alice.GetUser().GetId()})
		}, check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.GetUserResponse).GetUser(); !proto.Equal(u, alice.GetUser()) {
				t.Errorf("got %v, want %v", u, alice.GetUser())
			}
		}},
		{name: "get deactivated", do: func(ctx context.Context) (proto.Message, error) {
			return s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: gone.GetId()})
		}, check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.GetUserResponse).GetUser(); u.GetActive() || u.GetCredentialsVersion() != 2 {
				t.Errorf("deactivated user %v, want active false and credentials_version 2", u)
			}
		}},
		{name: "get unknown", want: codes.NotFound, detail: "user 999999 does not exist", do: func(ctx context.Context) (proto.Message, error) {
			return s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: 999999})
		}},
		{name: "get id 0", want: codes.InvalidArgument, detail: "id", do: func(ctx context.Context) (proto.Message, error) {
			return s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: 0})
		}},

		{name: "verify", do: verify("alice_"+n, "alice-password"), check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.VerifyCredentialsResponse).GetUser(); !proto.Equal(u, alice.GetUser()) {
				t.Errorf("got %v, want %v", u, alice.GetUser())
			}
		}},
		{name: "verify in other case", do: verify("ALICE_"+n, "alice-password"), check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.VerifyCredentialsResponse).GetUser(); u.GetId() != alice.GetUser().GetId() {
				t.Errorf("got user %d, want alice %d", u.GetId(), alice.GetUser().GetId())
			}
		}},
		{name: "verify wrong password", want: codes.Unauthenticated, detail: badCredentials, do: verify("alice_"+n, "alice-passwort")},
		{name: "verify unknown user", want: codes.Unauthenticated, detail: badCredentials, do: verify("nobody", "alice-password")},
		{name: "verify impossible username", want: codes.Unauthenticated, detail: badCredentials, do: verify("nul\x00name", "alice-password")},
		{name: "verify deactivated user", want: codes.Unauthenticated, detail: badCredentials, do: verify(gone.GetUsername(), passwordOf(gone))},

		{name: "update nothing", want: codes.InvalidArgument, detail: "at least one", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), CredentialsVersion: 1})},
		{name: "update bad email", want: codes.InvalidArgument, detail: "email", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Email: proto.String("a@"), CurrentPassword: proto.String("alice-password"), CredentialsVersion: 1})},
		{name: "update bad username", want: codes.InvalidArgument, detail: "username", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Username: proto.String("a"), CredentialsVersion: 1})},
		{name: "update short password", want: codes.InvalidArgument, detail: "password", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Password: proto.String("short"), CurrentPassword: proto.String("alice-password"), CredentialsVersion: 1})},
		{name: "update to taken username", want: codes.AlreadyExists, detail: `username "carol_` + n + `" is already taken`, do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Username: proto.String("carol_" + n), CredentialsVersion: 1})},
		{name: "update to taken email in other case", want: codes.AlreadyExists, detail: `email "BOB` + n + `@example.com" is already taken`, do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Email: proto.String("BOB" + n + "@example.com"), CurrentPassword: proto.String("alice-password"), CredentialsVersion: 1})},
		{name: "update unknown", want: codes.Unauthenticated, detail: "no longer the user's", do: update(&dbv1.UpdateUserRequest{Id: 999999, Email: proto.String("x@example.com"), CurrentPassword: proto.String("x"), CredentialsVersion: 1})},
		{name: "update deactivated", want: codes.Unauthenticated, detail: "no longer the user's", do: update(&dbv1.UpdateUserRequest{Id: gone.GetId(), Email: proto.String("x@example.com"), CurrentPassword: proto.String(passwordOf(gone)), CredentialsVersion: 1})},
		{name: "update email without current password", want: codes.InvalidArgument, detail: "current_password is required", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Email: proto.String("alice" + n + "@sustech.edu.cn"), CredentialsVersion: 1})},
		{name: "update password without current password", want: codes.InvalidArgument, detail: "current_password is required", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Password: proto.String("alice-new-password"), CredentialsVersion: 1})},
		{name: "update email with wrong current password", want: codes.PermissionDenied, detail: "current_password is not your password", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Email: proto.String("alice" + n + "@sustech.edu.cn"), CurrentPassword: proto.String("alice-passwort"), CredentialsVersion: 1})},
		{name: "update username without current password", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Username: proto.String("alice_" + n), CredentialsVersion: 1}), check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.UpdateUserResponse).GetUser(); u.GetEmail() != "alice"+n+"@example.com" {
				t.Errorf("email %q after the refused changes, want the original", u.GetEmail())
			}
		}},
		{name: "update email", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Email: proto.String("alice" + n + "@sustech.edu.cn"), CurrentPassword: proto.String("alice-password"), CredentialsVersion: 1}), check: func(t *testing.T, m proto.Message) {
			u := m.(*dbv1.UpdateUserResponse).GetUser()
			if u.GetEmail() != "alice"+n+"@sustech.edu.cn" || u.GetUsername() != "alice_"+n || u.GetCredentialsVersion() != 1 {
				t.Errorf("updated user %v, want the new email and nothing else changed", u)
			}
		}},
		{name: "update password", do: update(&dbv1.UpdateUserRequest{Id: alice.GetUser().GetId(), Password: proto.String("alice-new-password"), CurrentPassword: proto.String("alice-password"), CredentialsVersion: 1}), check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.UpdateUserResponse).GetUser(); u.GetCredentialsVersion() != 2 {
				t.Errorf("credentials_version %d after a password change, want 2", u.GetCredentialsVersion())
			}
		}},
		{name: "verify old password", want: codes.Unauthenticated, detail: badCredentials, do: verify("alice_"+n, "alice-password")},
		{name: "verify new password", do: verify("alice_"+n, "alice-new-password"), check: func(t *testing.T, m proto.Message) {
			if u := m.(*dbv1.VerifyCredentialsResponse).GetUser(); u.GetCredentialsVersion() != 2 {
				t.Errorf("credentials_version %d, want 2", u.GetCredentialsVersion())
			}
		}},

		{name: "deactivate without current password", want: codes.InvalidArgument, detail: "current_password", do: deactivateWith(alice.GetUser().GetId(), "")},
		{name: "deactivate with wrong current password", want: codes.PermissionDenied, detail: "current_password is not your password", do: deactivateWith(alice.GetUser().GetId(), "alice-password")},
		{name: "deactivate", do: deactivateWith(alice.GetUser().GetId(), "alice-new-password")},
		{name: "deactivate again", want: codes.Unauthenticated, detail: "no longer the user's", do: deactivateWith(alice.GetUser().GetId(), "alice-new-password")},
		{name: "deactivate unknown", want: codes.Unauthenticated, detail: "no longer the user's", do: deactivateWith(999999, "x")},
		{name: "deactivate id 0", want: codes.InvalidArgument, detail: "id", do: deactivateWith(0, "x")},
		{name: "verify after deactivation", want: codes.Unauthenticated, detail: badCredentials, do: verify("alice_"+n, "alice-new-password")},
		{name: "deactivated user's email stays taken", want: codes.AlreadyExists, detail: "email", do: create("1", "dave", proto.String("alice"+n+"@sustech.edu.cn"), "dave-password")},
	})
}

func TestOrders(t *testing.T) {
	s := startService(t, serviceOptions{})
	ctx := context.Background()
	buyer, other, gone := newUser(t, s), newUser(t, s), newUser(t, s)
	deactivate(t, s, gone)
	scarce := newProduct(t, 2)
	product := newProduct(t, 500)
	first, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	stock := func(t *testing.T, id int32) int32 {
		t.Helper()
		p, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		return p.GetProduct().GetStock()
	}
	create := func(userID, productID, quantity int32) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: userID, ProductId: productID, Quantity: quantity, CredentialsVersion: 1})
		}
	}
	get := func(id, userID int32) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return s.orders.GetOrder(ctx, &dbv1.GetOrderRequest{Id: id, UserId: userID})
		}
	}
	cancelOrder := func(id, userID int32) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return s.orders.CancelOrder(ctx, &dbv1.CancelOrderRequest{Id: id, UserId: userID, CredentialsVersion: 1})
		}
	}
	var second *dbv1.Order
	firstID := first.GetOrder().GetId()
	runCalls(t, []call{
		{name: "create", do: create(buyer.GetId(), product, 3), check: func(t *testing.T, m proto.Message) {
			second = m.(*dbv1.CreateOrderResponse).GetOrder()
			if second.GetUserId() != buyer.GetId() || second.GetProductId() != product || second.GetQuantity() != 3 ||
				second.GetTotalPriceCents() != 3*1234 || second.GetStatus() != dbv1.OrderStatus_ORDER_STATUS_PLACED ||
				second.GetCreatedAt() == nil || second.GetCancelledAt() != nil {
				t.Errorf("created order %v", second)
			}
			if got := stock(t, product); got != 496 {
				t.Errorf("stock %d after ordering 1 and 3 of 500, want 496", got)
			}
		}},
		{name: "create price times quantity", do: create(buyer.GetId(), 3, 3), check: func(t *testing.T, m proto.Message) {
			if got := m.(*dbv1.CreateOrderResponse).GetOrder().GetTotalPriceCents(); got != 2997 {
				t.Errorf("3 x 9.99 = %d cents, want 2997", got)
			}
		}},
		{name: "create quantity 0", want: codes.InvalidArgument, detail: "quantity", do: create(buyer.GetId(), product, 0)},
		{name: "create quantity 4", want: codes.InvalidArgument, detail: "quantity", do: create(buyer.GetId(), product, 4)},
		{name: "create product 0", want: codes.InvalidArgument, detail: "product_id", do: create(buyer.GetId(), 0, 1)},
		{name: "create user 0", want: codes.InvalidArgument, detail: "user_id", do: create(0, product, 1)},
		{name: "create unknown product", want: codes.NotFound, detail: "product 999999 does not exist", do: create(buyer.GetId(), 999999, 1)},
		{name: "create unknown user", want: codes.Unauthenticated, detail: "no longer the user's", do: create(999999, product, 1)},
		{name: "create deactivated user", want: codes.Unauthenticated, detail: "no longer the user's", do: create(gone.GetId(), product, 1)},
		{name: "create not enough stock", want: codes.FailedPrecondition,
			detail: fmt.Sprintf("not enough stock: product %d has 2 left, 3 requested", scarce), do: create(buyer.GetId(), scarce, 3)},

		{name: "get", do: get(firstID, buyer.GetId()), check: func(t *testing.T, m proto.Message) {
			if o := m.(*dbv1.GetOrderResponse).GetOrder(); !proto.Equal(o, first.GetOrder()) {
				t.Errorf("got %v, want %v", o, first.GetOrder())
			}
		}},
		{name: "get another user's", want: codes.PermissionDenied, detail: fmt.Sprintf("order %d", firstID), do: get(firstID, other.GetId())},
		{name: "get unknown", want: codes.NotFound, detail: "order 999999 does not exist", do: get(999999, buyer.GetId())},
		{name: "get id 0", want: codes.InvalidArgument, detail: "id", do: get(0, buyer.GetId())},

		{name: "list newest first", do: func(ctx context.Context) (proto.Message, error) {
			return s.orders.ListOrders(ctx, &dbv1.ListOrdersRequest{UserId: buyer.GetId()})
		}, check: func(t *testing.T, m proto.Message) {
			os := m.(*dbv1.ListOrdersResponse).GetOrders()
			if len(os) != 3 || os[1].GetId() != second.GetId() || os[2].GetId() != firstID {
				t.Errorf("orders %v, want 3, the first one last", os)
			}
		}},
		{name: "list someone without orders", do: func(ctx context.Context) (proto.Message, error) {
			return s.orders.ListOrders(ctx, &dbv1.ListOrdersRequest{UserId: other.GetId()})
		}, check: func(t *testing.T, m proto.Message) {
			if os := m.(*dbv1.ListOrdersResponse).GetOrders(); len(os) != 0 {
				t.Errorf("orders %v, want none", os)
			}
		}},
		{name: "list user 0", want: codes.InvalidArgument, detail: "user_id", do: func(ctx context.Context) (proto.Message, error) {
			return s.orders.ListOrders(ctx, &dbv1.ListOrdersRequest{UserId: 0})
		}},

		{name: "cancel another user's", want: codes.PermissionDenied, detail: fmt.Sprintf("order %d", firstID), do: cancelOrder(firstID, other.GetId())},
		{name: "cancel unknown", want: codes.NotFound, detail: "order 999999 does not exist", do: cancelOrder(999999, buyer.GetId())},
		{name: "cancel", do: cancelOrder(firstID, buyer.GetId()), check: func(t *testing.T, m proto.Message) {
			o := m.(*dbv1.CancelOrderResponse).GetOrder()
			if o.GetStatus() != dbv1.OrderStatus_ORDER_STATUS_CANCELLED || o.GetCancelledAt() == nil || o.GetId() != firstID {
				t.Errorf("cancelled order %v", o)
			}
			if got := stock(t, product); got != 497 {
				t.Errorf("stock %d after cancelling 1, want 497", got)
			}
		}},
		{name: "cancel again", want: codes.FailedPrecondition, detail: fmt.Sprintf("order %d is already cancelled", firstID), do: cancelOrder(firstID, buyer.GetId())},
		{name: "stock unchanged by the second cancel", do: get(firstID, buyer.GetId()), check: func(t *testing.T, m proto.Message) {
			if got := stock(t, product); got != 497 {
				t.Errorf("stock %d after a refused second cancel, want 497", got)
			}
		}},
	})
}

func TestDeadlines(t *testing.T) {
	s := startService(t, serviceOptions{})
	buyer := newUser(t, s)
	product := newProduct(t, 10)

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := s.products.GetProduct(expired, &dbv1.GetProductRequest{Id: 1})
	wantCode(t, err, codes.DeadlineExceeded)
	_, err = s.orders.CreateOrder(expired, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: 1})
	wantCode(t, err, codes.DeadlineExceeded)

	// A deadline that passes while the server waits: another transaction
	// holds the product's row lock, so the order queues behind it.
	ctx := context.Background()
	tx := lockProduct(t, product)
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	_, err = s.orders.CreateOrder(short, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: 1})
	wantCode(t, err, codes.DeadlineExceeded)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	p, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: product})
	wantCode(t, err, codes.OK)
	if p.GetProduct().GetStock() != 10 {
		t.Errorf("stock %d after the timed-out order, want 10", p.GetProduct().GetStock())
	}
	if _, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: 1}); err != nil {
		t.Errorf("ordering after the timeout: %v", err)
	}
}

func TestReflectionListsServicesWhenTurnedOn(t *testing.T) {
	s := startService(t, serviceOptions{reflection: true})
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	for _, want := range []string{"merchstore.db.v1.ProductService", "merchstore.db.v1.UserService", "merchstore.db.v1.OrderService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

// Every write that acts for a user carries the caller's token's credentials
// version: it is refused once that version is stale, in the write's own
// transaction, and changes nothing; with the current version it goes through;
// without one it is invalid.
func TestWritesCheckTheTokensCredentialsVersion(t *testing.T) {
	s := startService(t, serviceOptions{})
	ctx := context.Background()
	buyer := newUser(t, s)
	product := newProduct(t, 500)
	current := buyer.GetCredentialsVersion()
	placed, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: current})
	if err != nil {
		t.Fatalf("placing with the current version: %v", err)
	}
	if _, err := s.users.UpdateUser(ctx, &dbv1.UpdateUserRequest{Id: buyer.GetId(), Password: proto.String("a new password"), CurrentPassword: proto.String(passwordOf(buyer)), CredentialsVersion: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: current})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("placing with a stale version: %v, want UNAUTHENTICATED", err)
	}
	_, err = s.orders.CancelOrder(ctx, &dbv1.CancelOrderRequest{Id: placed.GetOrder().GetId(), UserId: buyer.GetId(), CredentialsVersion: current})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("cancelling with a stale version: %v, want UNAUTHENTICATED", err)
	}
	order, err := s.orders.GetOrder(ctx, &dbv1.GetOrderRequest{Id: placed.GetOrder().GetId(), UserId: buyer.GetId()})
	if err != nil || order.GetOrder().GetStatus() != dbv1.OrderStatus_ORDER_STATUS_PLACED {
		t.Errorf("after the refused cancel the order is %v (%v), want still placed", order.GetOrder().GetStatus(), err)
	}
	list, err := s.orders.ListOrders(ctx, &dbv1.ListOrdersRequest{UserId: buyer.GetId()})
	if err != nil || len(list.GetOrders()) != 1 {
		t.Errorf("the buyer has %d orders (%v), want the one placed before the password changed", len(list.GetOrders()), err)
	}
	_, err = s.users.UpdateUser(ctx, &dbv1.UpdateUserRequest{Id: buyer.GetId(), Username: proto.String("renamed_" + buyer.GetSid()), CredentialsVersion: current})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("renaming with a stale version: %v, want UNAUTHENTICATED", err)
	}
	_, err = s.users.DeactivateUser(ctx, &dbv1.DeactivateUserRequest{Id: buyer.GetId(), CurrentPassword: "a new password", CredentialsVersion: current})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("deactivating with a stale version: %v, want UNAUTHENTICATED", err)
	}
	// Leaving the version out skips nothing: the request is invalid.
	for name, call := range map[string]func() error{
		"place": func() error {
			_, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1})
			return err
		},
		"cancel": func() error {
			_, err := s.orders.CancelOrder(ctx, &dbv1.CancelOrderRequest{Id: placed.GetOrder().GetId(), UserId: buyer.GetId()})
			return err
		},
		"rename": func() error {
			_, err := s.users.UpdateUser(ctx, &dbv1.UpdateUserRequest{Id: buyer.GetId(), Username: proto.String("renamed_" + buyer.GetSid())})
			return err
		},
		"deactivate": func() error {
			_, err := s.users.DeactivateUser(ctx, &dbv1.DeactivateUserRequest{Id: buyer.GetId(), CurrentPassword: "a new password"})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s without a credentials version: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	got, err := s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: buyer.GetId()})
	if err != nil || !got.GetUser().GetActive() || got.GetUser().GetUsername() != buyer.GetUsername() {
		t.Errorf("after the refused writes the buyer is %v (%v), want unchanged", got.GetUser(), err)
	}
}
